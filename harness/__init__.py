"""The controller: everything that runs a test. ``api.py`` (the contracts: System, Client, Host, ...),
``client_errors.py`` and ``jsonline_client.py`` (clients), ``plugins.py``, ``generator/`` (pure generators),
``systems/`` and ``workloads/`` (one file each), and the sub-packages ``commands/`` (the command line), ``hosts/``
(namespaces, SSH, clusters, cleanup), ``run/`` (one test from spec to verdict), ``ci/`` (suite, replay, pytest
plugin) and ``testing/`` (test-only sshd hosts). The history format, errors and verdicts are the ground package
:mod:`splitbrain.history`. Map: docs/ARCHITECTURE.md."""
