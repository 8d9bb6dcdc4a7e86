"""The folder mapping pyproject.toml cannot express with a package finder: each top-level folder of the repository
becomes a sub-package of ``splitbrain`` (``harness/`` -> ``splitbrain.harness``), and the folder ``splitbrain/`` is
the root package itself. Sub-packages are found here, so a new folder needs no edit; folders of data without an
``__init__.py`` (``reports/templates``, ``reports/static``) are found as namespace packages, so the package-data
patterns of pyproject.toml carry their files. Everything else about the distribution is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

FOLDERS = ["harness", "nemesis", "checkers", "reports", "systems_under_test"]

package_dir = {"splitbrain": "splitbrain", **{f"splitbrain.{f}": f for f in FOLDERS}}
packages = ["splitbrain"] + [
    f"splitbrain.{p}"
    for p in find_namespace_packages(include=FOLDERS + [f"{f}.*" for f in FOLDERS], exclude=["*__pycache__*"])
]

setup(package_dir=package_dir, packages=packages)
