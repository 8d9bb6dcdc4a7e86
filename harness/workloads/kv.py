"""Many independent keys: reads, writes and (where offered) cas, checked per key for linearizability (the kv model
is split by key, P-compositionality), plus op statistics.

Keys come in windows over test time: every ``key_window_s`` seconds a fresh group of ``keys_at_once`` keys becomes
active, so each key's sub-history stays small enough to check quickly however long the test runs.
"""

from __future__ import annotations

from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload
from splitbrain.harness.workloads.register import register_op


def _active_key(ctx, options: dict) -> str:
    window = int(ctx.time // int(options.get("key_window_s", 3) * 1e9))
    per = options.get("keys_at_once", 4)
    return f"k{window * per + ctx.rng.randrange(per)}"


def client_op(ctx, options: dict) -> dict:
    return register_op(ctx.rng, _active_key(ctx, options), options)


def final_op(ctx, options: dict) -> dict:
    return {"f": "read", "key": _active_key(ctx, options)}


def checkers(options: dict) -> dict:
    limit = options.get("check_time_limit", 60.0)
    return {
        "linearizable": lambda h: check_linearizable(h, "kv", time_limit=limit),
        "stats": check_stats,
    }


WORKLOAD = Workload("kv", "many keys: read, write, cas per key; linearizability per key (kv model)",
                    client_op, final_op, checkers, model="kv")
