"""A single register: reads, writes of small random values, and (where the system offers it) compare-and-set.
Checked for linearizability against the cas-register model (the register model when ``cas`` is off), plus op
statistics; explanations call it "the register", the name the user chose.

Small value ranges (as Jepsen's) make collisions likely, which is what exposes stale reads.
"""

from __future__ import annotations

from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload

KEY = "r"


def register_op(rng, key, options: dict) -> dict:
    """A random read, write or (unless ``cas`` is off) cas on ``key``, values below ``value_range``."""
    values = options.get("value_range", 5)
    f = rng.choice(("read", "write", "cas") if options.get("cas", True) else ("read", "write"))
    if f == "read":
        return {"f": "read", "key": key}
    if f == "write":
        return {"f": "write", "key": key, "value": rng.randrange(values)}
    return {"f": "cas", "key": key, "value": [rng.randrange(values), rng.randrange(values)]}


def client_op(ctx, options: dict) -> dict:
    return register_op(ctx.rng, KEY, options)


def final_op(ctx, options: dict) -> dict:
    return {"f": "read", "key": KEY}


def checkers(options: dict) -> dict:
    limit = options.get("check_time_limit", 60.0)
    model = "cas-register" if options.get("cas", True) else "register"
    return {
        "linearizable": lambda h: check_linearizable(h, model, time_limit=limit, label="register"),
        "stats": check_stats,
    }


WORKLOAD = Workload("register", "one register: read, write, cas; linearizability (cas-register model)",
                    client_op, final_op, checkers, model="cas-register")
