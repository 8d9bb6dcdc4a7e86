"""The ground package: the history and the words used to judge it. Everything else stands on it.

* :mod:`.ops` -- the op record (:class:`~.ops.Op`), the JSON Lines writer that survives a crash and the validating
  reader (the format: docs/history-format.md);
* :mod:`.importers` (with :mod:`.importers_txn`) -- histories written by other tools (Jepsen's EDN, log lines);
* :mod:`.errors` -- the one exception hierarchy and the exit codes;
* :mod:`.verdict` -- :class:`~.verdict.Verdict`: how verdicts combine, their words and exit codes;
* :mod:`.run_files` -- the names of the files in a run directory;
* :mod:`.values` -- small helpers for values that come from histories (hashable forms, JSON keys).

Why "history": a checker or a report needs to know the history format and nothing else (they read histories and
write verdicts); the name says what the package is the ground of. ``checkers/`` and ``reports/`` import only this
package (``tests/test_import_graph.py``).

Must not: import anything of the project outside this package (it is the ground: the controller, nemesis, checkers
and reports all stand on it), or re-export its modules' names here (importing ``splitbrain.history.errors`` must stay
as cheap as that one module).
"""
