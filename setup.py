"""Packaging for influence_mem.

TensorFlow ships as `tensorflow` (GPU builds) or `tensorflow-cpu`.  Both provide
the same module, so we require whichever is already installed, or the one
named by INFLUENCE_MEM_TF, defaulting to `tensorflow-cpu` on a fresh machine
(`pip install tensorflow` first, or INFLUENCE_MEM_TF=tensorflow, for GPUs).
"""
import importlib.metadata
import os

from setuptools import find_packages, setup


def tensorflow_requirement():
    name = os.environ.get("INFLUENCE_MEM_TF")
    if not name:
        for candidate in ("tensorflow", "tensorflow-cpu"):
            try:
                importlib.metadata.version(candidate)
                name = candidate
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return f"{name or 'tensorflow-cpu'}>=2.16"


setup(
    name="influence_mem",
    version="0.1.0",
    description="Memorization and influence estimation (Feldman & Zhang, NeurIPS 2020) in TensorFlow/Keras",
    packages=find_packages(include=["influence_mem", "influence_mem.*"]),
    python_requires=">=3.9",
    install_requires=[
        tensorflow_requirement(),
        "keras>=3",
        "tensorflow-datasets",
        "absl-py",
        "numpy",
        "pandas",
        "scikit-learn",
        "matplotlib",
        "fsspec",  # the numpy-only aggregator reads workdirs by URL (gs:// with the gcs extra)
    ],
    # ray: launchers/ray_trials.py (the multi-machine engine); the launcher tests use a local instance.
    extras_require={"test": ["pytest", "ray"], "ray": ["ray"], "gcs": ["gcsfs"]},
    entry_points={
        "console_scripts": [
            "im-train=influence_mem.train.main:run",
            "im-aggregate=influence_mem.estimate.aggregate:run",
            "im-status=influence_mem.status:run",
            "im-report=influence_mem.report:run",
        ]
    },
)
