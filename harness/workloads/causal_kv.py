"""Causal key-value: clients write unique values to a few keys and read them; judged by the causal checker
(Bouajjani et al. bad patterns and the four session guarantees). Every written value is unique: the op's time in
nanoseconds times 1000 plus a random tie-breaker (a collision makes the checker answer "unknown", never a wrong
verdict). Each client thread is one session and stays on one node, as the harness binds clients to nodes."""

from __future__ import annotations

from checkers.causal import check_causal
from checkers.stats import check_stats
from harness.workloads import Workload


def _key(ctx, options: dict) -> str:
    return f"k{ctx.rng.randrange(options.get('keys', 4))}"


def client_op(ctx, options: dict) -> dict:
    if ctx.rng.random() < options.get("read_fraction", 0.5):
        return {"f": "read", "key": _key(ctx, options)}
    return {"f": "write", "key": _key(ctx, options), "value": ctx.time * 1000 + ctx.rng.randrange(1000)}


def final_op(ctx, options: dict) -> dict:
    return {"f": "read", "key": _key(ctx, options)}


def checkers(options: dict) -> dict:
    model = options.get("causal_model", "CC")
    return {"causal": lambda h: check_causal(h, model=model), "stats": check_stats}


WORKLOAD = Workload("causal-kv", "unique writes and reads on a few keys; causal consistency and session guarantees",
                    client_op, final_op, checkers, defaults={"crdt_type": "lww"})
