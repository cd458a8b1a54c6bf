# The C kernel core is compiled by cffi (out-of-line API mode) at install time;
# everything else about the distribution lives in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["runtime/_build_core.py:ffibuilder"])
