"""im-aggregate, also as `python -m influence_mem.aggregate --workdir=W [--name=N] [--output_dir=OUT]`."""
from influence_mem.estimate.main import run

if __name__ == "__main__":
    run()
