"""Launchers: many trainer processes over the GPUs of one machine, a Ray cluster or a Slurm array.

Run from a checkout (`python launchers/local.py ...`) or, installed, as the package
`influence_mem_launchers` (pyproject.toml maps this directory to it): `im-launch-local`,
`im-launch-ray`; `slurm_array.sh` ships next to them as a data file.
"""
