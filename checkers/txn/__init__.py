"""A checker for transactional anomalies (after Elle): list-append and rw-register histories.

Modules, one job each: ``txns`` (transactions out of a history), ``append`` and ``register`` (dependency
inference and non-cycle anomalies, sharing ``base``), ``orders`` (process and real-time edges), ``graph`` (the
graph, SCCs, shortest paths), ``cycles`` (the cycle anomalies), ``models`` (which anomalies rule out which model),
``check`` (the entry point, ``check_txn``).
"""

from splitbrain.checkers.txn.check import check_txn

__all__ = ["check_txn"]
