"""`python -m influence_mem.aggregate`: the im-aggregate app (see influence_mem.estimate.aggregate)."""
from influence_mem.estimate.aggregate import run

if __name__ == "__main__":
    run()
