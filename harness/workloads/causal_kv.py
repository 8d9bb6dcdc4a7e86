"""Causal key-value: clients write unique values to a few keys and read them; judged by the causal checker
(Bouajjani et al. bad patterns and the four session guarantees) and by convergence.

Every written value is unique: the op's time in nanoseconds times 1000 plus a random tie-breaker (a collision makes
the causal checker answer "unknown", never a wrong verdict). Each client thread is one session and stays on one node,
as the harness binds clients to nodes. The final phase is one ``final-read-all`` of every key per client thread, so
every node reads every key after the heal: convergence (replicas agree on each key, on a value some write wrote)
and causality of those final reads (a last-writer-wins choice against causality shows there) are both judged.
"""

from __future__ import annotations

from splitbrain.checkers.causal import check_causal
from splitbrain.checkers.convergence import check_convergence
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload


def keys(options: dict) -> list[str]:
    return [f"k{i}" for i in range(int(options.get("keys", 4)))]


def client_op(ctx, options: dict) -> dict:
    key = f"k{ctx.rng.randrange(int(options.get('keys', 4)))}"
    if ctx.rng.random() < options.get("read_fraction", 0.5):
        return {"f": "read", "key": key}
    return {"f": "write", "key": key, "value": ctx.time * 1000 + ctx.rng.randrange(1000)}


def final_op(ctx, options: dict) -> dict:
    return {"f": "final-read-all", "value": keys(options)}


def checkers(options: dict) -> dict:
    model = options.get("causal_model", "CC")
    return {"causal": lambda h: check_causal(h, model=model),
            "convergence": lambda h: check_convergence(h, datatype="register"),
            "stats": check_stats}


WORKLOAD = Workload("causal-kv", "unique writes and reads on a few keys; causal consistency, session guarantees and "
                    "convergence", client_op, final_op, checkers, defaults={"crdt_type": "lww"})
