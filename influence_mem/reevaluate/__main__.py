"""`python -m influence_mem.reevaluate`: im-reevaluate (reevaluate/main.py)."""
from influence_mem.reevaluate.main import run

run()
