"""splitbrain: the one import root of the project.

The project keeps its folders at the top of the repository (``harness/``, ``nemesis/``, ``checkers/``,
``reports/``, ``systems_under_test/``); ``setup.py`` installs each one as a sub-package of this one
(``splitbrain.harness``, ``splitbrain.checkers``, ...), so the distribution puts nothing but ``splitbrain`` into
site-packages. A plugin imports what it needs from :mod:`splitbrain.api`.

Must not: import anything. This file is uploaded to remote hosts with the shipped servers (run there as
``python -m splitbrain.systems_under_test.<name>.server`` by a bare interpreter without the project's dependencies).
"""
