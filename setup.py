"""Packaging metadata lives in pyproject.toml; this file only lets older tools call setup()."""
from setuptools import setup

setup()
