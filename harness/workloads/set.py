"""A grow-only set: clients add unique integers, reads return the whole set, and every client reads once more at the
end. Checked like Jepsen's set-full: lost, unexpected and stale elements.

Element uniqueness comes from the op's time and thread, not from shared state, so the op function stays pure.
"""

from __future__ import annotations

from splitbrain.checkers.sets import check_set
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload

KEY = "s"


def client_op(ctx, options: dict) -> dict:
    if ctx.rng.random() < options.get("read_fraction", 0.1):
        return {"f": "read", "key": KEY}
    # Unique across the test: the nanosecond time of the draw plus a random tie-breaker.
    return {"f": "add", "key": KEY, "value": ctx.time * 1000 + ctx.rng.randrange(1000)}


def final_op(ctx, options: dict) -> dict:
    return {"f": "read", "key": KEY}


def checkers(options: dict) -> dict:
    linearizable = options.get("linearizable_set", False)
    return {"set": lambda h: check_set(h, linearizable=linearizable), "stats": check_stats}


WORKLOAD = Workload("set", "a grow-only set: add unique elements, read it all; lost/unexpected/stale elements",
                    client_op, final_op, checkers)
