"""Running one test, from its spec to its verdict.

* ``spec.py`` -- :class:`~.spec.TestSpec`, the test as plain data (what ``run`` builds, test.json stores, ``replay``
  reads back);
* ``runner.py`` -- one test end to end: cluster up, nodes started, load and faults driven, history closed,
  verdict, cleanup; ``plan.py`` -- the test's phases over time (load, faults, heal, final reads) as one generator;
* ``startup.py`` -- from started nodes to load: every node listening, then the system's ``ready()``;
* ``interpreter.py`` -- runs a pure generator against workers in real time, recording every op;
  ``workers.py`` -- what the interpreter hands ops to (clients, the nemesis); ``progress.py`` -- the live line;
* ``analysis.py`` -- the one path from a history to a verdict (checkers, results.json, the report);
* ``run_dirs.py`` -- the run store: ``store/<test>/<timestamp>/`` directories and their JSON files.

Must not: record an op anywhere but through the history writer, or judge a history anywhere but in ``analysis.py``.
"""
