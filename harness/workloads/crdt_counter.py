"""A PN-counter on an always-available store: clients add deltas of either sign and read; after the final heal every
node reads repeatedly (``final-read``). Judged by convergence only: reads during partitions may be stale by design, so
Jepsen's bounds-per-read counter checker would condemn a correct CRDT."""

from __future__ import annotations

from splitbrain.checkers.convergence import check_convergence
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload

KEY = "c"


def client_op(ctx, options: dict) -> dict:
    if ctx.rng.random() < options.get("read_fraction", 0.2):
        return {"f": "read", "key": KEY}
    return {"f": "add", "key": KEY, "value": ctx.rng.randint(-3, 5)}


def final_op(ctx, options: dict) -> dict:
    return {"f": "final-read", "key": KEY}


def checkers(options: dict) -> dict:
    return {"convergence": lambda h: check_convergence(h, datatype="counter"), "stats": check_stats}


WORKLOAD = Workload("crdt-counter", "a PN-counter: add +/- deltas, read; all replicas must converge to the sum",
                    client_op, final_op, checkers, defaults={"crdt_type": "counter"})
