"""`python -m influence_mem.bench`: the packed-trials benchmark (bench/packed.py)."""
from influence_mem.bench.packed import run

run()
