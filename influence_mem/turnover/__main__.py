"""`python -m influence_mem.turnover`: the turn-over dropout run (turnover/main.py)."""
from influence_mem.turnover.main import run

run()
