"""Builds the optional native core of the linearizability search (checkers/_lin_native.c).

Everything else about the package is in pyproject.toml. The extension is optional: where it does not compile
(no C compiler or Python headers), splitbrain installs anyway and checkers/_lin_fast.py uses the pure-Python
search; .ci/setup insists on it.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("checkers._lin_native", ["checkers/_lin_native.c"],
                             extra_compile_args=["-O2"], optional=True)])
