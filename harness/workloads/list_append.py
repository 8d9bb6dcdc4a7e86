"""Elle's list-append: transactions append unique integers to a few rotating keys and read whole lists; the
version order of each key is in its reads, so every dependency can be inferred. Checked by checkers/txn under
``txn_model`` (default strict-serializable)."""

from __future__ import annotations

from splitbrain.harness.workloads import Workload
from splitbrain.harness.workloads.txn import DEFAULTS, checkers, final_op, txn_op


def client_op(ctx, options: dict) -> dict:
    return txn_op(ctx, options, "append")


WORKLOAD = Workload("list-append", "transactions appending to and reading lists; transactional anomalies "
                    "(G0 ... G2-item, real-time) per consistency model", client_op, final_op, checkers,
                    defaults=dict(DEFAULTS))
