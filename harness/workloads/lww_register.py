"""A last-writer-wins register on an always-available store: clients write unique values to one register and read
it; after the heal every client thread reads it once more (``final-read``).

Judged by the causal checker (a read, final ones included, must never return a write that a causally later write
of the register had overwritten: with a wall-clock LWW under clock skew, a causally later write can lose) and by
convergence (all replicas end on one value that some write wrote). Reads during partitions may be stale by design,
so linearizability is not asked. Values are unique as in causal-kv (time in ns * 1000 + a random tie-breaker).
"""

from __future__ import annotations

from splitbrain.harness.workloads import Workload
from splitbrain.harness.workloads.causal_kv import checkers  # the same three: causal, convergence, stats

KEY = "r"


def client_op(ctx, options: dict) -> dict:
    if ctx.rng.random() < options.get("read_fraction", 0.5):
        return {"f": "read", "key": KEY}
    return {"f": "write", "key": KEY, "value": ctx.time * 1000 + ctx.rng.randrange(1000)}


def final_op(ctx, options: dict) -> dict:
    return {"f": "final-read", "key": KEY}


WORKLOAD = Workload("lww-register", "one LWW register: unique writes and reads; causally later writes win, replicas "
                    "converge", client_op, final_op, checkers, defaults={"crdt_type": "lww"})
