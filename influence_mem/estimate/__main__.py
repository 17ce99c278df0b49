"""`python -m influence_mem.estimate`: im-aggregate (estimate/main.py)."""
from influence_mem.estimate.main import run

run()
