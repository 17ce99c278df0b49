"""influence_mem: memorization and influence estimation (Feldman & Zhang, NeurIPS 2020).

The package is split so that estimation and analysis (`estimate/`, `released`,
`analysis/`) need only numpy; training (`data/`, `models/`, `train/`) needs
TensorFlow.  Nothing heavy is imported here.
"""

__version__ = "0.1.0"
