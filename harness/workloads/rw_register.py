"""Elle's rw-register: transactions read and write unique values in a few rotating registers. Weaker inference
than list-append (a read shows one version, not the order), so fewer anomalies can be seen. Checked by
checkers/txn under ``txn_model`` (default strict-serializable)."""

from __future__ import annotations

from splitbrain.harness.workloads import Workload
from splitbrain.harness.workloads.txn import DEFAULTS, checkers, final_op, txn_op


def client_op(ctx, options: dict) -> dict:
    return txn_op(ctx, options, "w")


WORKLOAD = Workload("rw-register", "transactions reading and writing registers; transactional anomalies per "
                    "consistency model", client_op, final_op, checkers, defaults=dict(DEFAULTS))
