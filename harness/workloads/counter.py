"""A counter: clients add small positive deltas and read; each read must lie within the bounds the adds around it
allow (Jepsen's counter checker)."""

from __future__ import annotations

from splitbrain.checkers.counter import check_counter
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload

KEY = "c"


def client_op(ctx, options: dict) -> dict:
    if ctx.rng.random() < options.get("read_fraction", 0.3):
        return {"f": "read", "key": KEY}
    return {"f": "add", "key": KEY, "value": ctx.rng.randint(1, 5)}


def final_op(ctx, options: dict) -> dict:
    return {"f": "read", "key": KEY}


def checkers(options: dict) -> dict:
    return {"counter": check_counter, "stats": check_stats}


WORKLOAD = Workload("counter", "a counter: add small deltas, read; every read within the bounds of the adds",
                    client_op, final_op, checkers)
