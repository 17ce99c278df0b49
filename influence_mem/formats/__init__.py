"""The two file formats, the bottom layer: trial (the per-trial files the trainer writes and the
aggregator reads), released/ (the estimate files), npz (the one size-checked .npz reader).

numpy, pandas and fsspec only: no TensorFlow, and nothing else of the package.
"""
