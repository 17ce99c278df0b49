"""`python -m influence_mem.train`: im-train (train/main.py)."""
from influence_mem.train.main import run

run()
