"""The released estimate formats (docs/formats.md), read, validated and written (numpy/pandas only).

Every analysis loads estimates through this package, whether they are the authors' downloads or our
aggregator's output.  By job: names (file names and keys, the checks on names from the command line),
read (validators, result types, readers), write (atomic writers), order (TFDS vs original example
order), fetch (the authors' published files).  `influence_mem.released` re-exports this API for notebooks.
"""
from influence_mem.formats.released.fetch import FetchError, fetch
from influence_mem.formats.released.names import (STATS_CANDIDATE_PAIRS, STATS_MIN_TRAIN_ACCURACY, STATS_NOISE_PAIRS,
                                                  STATS_PAIRS_MIN_Z, STATS_SELECTION_KEYS, STATS_TRAIN_ACCURACY,
                                                  STATS_TRIAL_SELECTION)
from influence_mem.formats.released.names import (INDEX_KEYS, PAIR_KEYS, STATS_KEYS, EstimateSetError,
                                                  check_output_dir, check_output_name, cscores_filename,
                                                  default_output_name, find_estimate_set, high_infl_pairs_filename,
                                                  index_filename, infl_full_filename, infl_matrix_filename,
                                                  stats_filename)
from influence_mem.formats.released.order import (ORDERS, detect_order, tfds_order, to_original_order,
                                                  to_tfds_order)
from influence_mem.formats.released.read import (KINDS, MAX_RELEASED_BYTES, CScores, EstimatesStats, IndexFrame,
                                                 InflMatrix, PairsFrame, ReleasedFormatError, load, load_cscores,
                                                 load_estimates_stats, load_high_infl_pairs, load_index,
                                                 load_infl_matrix, memorization)
from influence_mem.formats.released.write import (atomic_path, open_infl_full, write_cscores, write_estimate_set,
                                                  write_estimates_stats, write_high_infl_pairs, write_index,
                                                  write_infl_matrix)

__all__ = [
    "FetchError", "fetch",
    "STATS_CANDIDATE_PAIRS", "STATS_MIN_TRAIN_ACCURACY", "STATS_NOISE_PAIRS", "STATS_PAIRS_MIN_Z",
    "STATS_SELECTION_KEYS", "STATS_TRAIN_ACCURACY", "STATS_TRIAL_SELECTION",
    "INDEX_KEYS", "PAIR_KEYS", "STATS_KEYS", "EstimateSetError", "check_output_dir", "check_output_name",
    "cscores_filename", "default_output_name", "find_estimate_set", "high_infl_pairs_filename", "index_filename",
    "infl_full_filename", "infl_matrix_filename", "stats_filename",
    "ORDERS", "detect_order", "tfds_order", "to_original_order", "to_tfds_order",
    "KINDS", "MAX_RELEASED_BYTES", "CScores", "EstimatesStats", "IndexFrame", "InflMatrix", "PairsFrame",
    "ReleasedFormatError", "load", "load_cscores", "load_estimates_stats", "load_high_infl_pairs", "load_index",
    "load_infl_matrix", "memorization",
    "atomic_path", "open_infl_full", "write_cscores", "write_estimate_set", "write_estimates_stats",
    "write_high_infl_pairs", "write_index", "write_infl_matrix",
]
