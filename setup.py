"""The parts of the build pyproject.toml cannot express.

1. The folder mapping: each top-level folder of the repository becomes a sub-package of ``splitbrain``
   (``harness/`` -> ``splitbrain.harness``), and the folder ``splitbrain/`` is the root package itself (with its own
   sub-packages: ``splitbrain/history/`` is ``splitbrain.history``). Sub-packages
   are found here, so a new folder needs no edit; folders of data without an ``__init__.py`` (``reports/templates``,
   ``reports/static``) are found as namespace packages, so the package-data patterns of pyproject.toml carry their
   files.
2. The optional native cores of the linearizability search (checkers/_lin_native.c) and of the transactional
   checker's hot passes (checkers/txn/_txn_native.c): where they do not compile (no C compiler or Python
   headers), splitbrain installs anyway and the checkers use their pure-Python paths; .ci/setup insists on them.

Everything else about the distribution is in pyproject.toml."""

from setuptools import Extension, find_namespace_packages, find_packages, setup

FOLDERS = ["harness", "nemesis", "checkers", "reports", "systems_under_test"]

package_dir = {"splitbrain": "splitbrain", **{f"splitbrain.{f}": f for f in FOLDERS}}
# the root package and its own sub-packages (splitbrain/history/: the ground package), then the mapped folders
packages = find_packages(include=["splitbrain", "splitbrain.*"]) + [
    f"splitbrain.{p}"
    for p in find_namespace_packages(include=FOLDERS + [f"{f}.*" for f in FOLDERS], exclude=["*__pycache__*"])
]

setup(package_dir=package_dir, packages=packages,
      ext_modules=[Extension("splitbrain.checkers._lin_native", ["checkers/_lin_native.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("splitbrain.checkers.txn._txn_native", ["checkers/txn/_txn_native.c"],
                             extra_compile_args=["-O2"], optional=True)])
