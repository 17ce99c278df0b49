"""Benchmarks: scripts that time the package and print figures and ratios (never timed tests).

  python -m influence_mem.bench                 # = bench.packed: s/trial, one model vs packed trials
  python -m influence_mem.bench.aggregate       # im-aggregate wall time and peak RSS on simulated trials
  python -m influence_mem.bench.turnover        # turn-over dropout cost vs a plain model

Each is an absl program whose flags are defined in its run(); docs/performance.md records the runs.
"""
