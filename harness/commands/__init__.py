"""The command line: ``main.py`` is the ``splitbrain`` click group (the console script's entry point and the one
place errors become exit codes); each other module registers one group of commands (``run.py``: run, analyze,
systems, workloads; ``check.py``; ``cluster.py``: cluster, nemesis, cleanup; ``report.py``: report, serve;
``suite.py``: suite, replay). A new command module is listed in ``main.COMMAND_MODULES``.

A command imports the machinery it runs inside its function (a comment in each module says so): the runner,
clusters, checkers' searches, reports and nemesis pull in pandas, paramiko and the fault appliers, which
``splitbrain --help`` and the other commands must not wait for.

Must not: hold logic a library user would need (commands parse flags, call the run/hosts/ci packages, print).
"""
