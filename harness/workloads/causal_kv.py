"""Causal key-value: causal chains across nodes plus random reads and writes of unique values on a few keys; judged
by the causal checker (Bouajjani et al. bad patterns and the four session guarantees, on the same history) and by
convergence.

During the test the ops come from ``splitbrain.harness.workloads.causal_chains``: half the fresh ops (``chain_fraction``) start
a write-read-write chain across three nodes (A writes x; the two others read x until one sees that write: it is B,
and writes y; the other, C, reads y until it sees B's write, then reads x), the rest are the random ops below
(``client_op``) on the ``keys`` keys ``k0..``. A chain is what lets a client-visible checker see a store that delivers an update before one it
depends on: C's last read returns an x older than the write B had seen before writing y.

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
from splitbrain.harness.workloads.causal_chains import causal_chains, chain_keys


def keys(options: dict) -> list[str]:
    """Every key the workload touches: the random ops' ``k*`` and the chains' ``x*``/``y*``."""
    return [f"k{i}" for i in range(int(options.get("keys", 4)))] + chain_keys(int(options.get("chain_slots", 32)))


def client_op(ctx, options: dict) -> dict:
    key = f"k{ctx.rng.randrange(int(options.get('keys', 4)))}"
    if ctx.rng.random() < options.get("read_fraction", 0.5):
        return {"f": "read", "key": key}
    return {"f": "write", "key": key, "value": ctx.time * 1000 + ctx.rng.randrange(1000)}


def client_gen(options: dict, *, rate: float, nodes: int):
    return causal_chains(options, rate=rate, nodes=nodes, random_op=lambda ctx: client_op(ctx, options))


def final_op(ctx, options: dict) -> dict:
    return {"f": "final-read-all", "value": keys(options)}


def checkers(options: dict) -> dict:
    model = options.get("causal_model", "CC")
    return {"causal": lambda h: check_causal(h, model=model),
            "convergence": lambda h: check_convergence(h, datatype="register"),
            "stats": check_stats}


WORKLOAD = Workload("causal-kv", "causal chains across nodes and unique writes and reads on a few keys; causal "
                    "consistency, session guarantees and convergence", client_op, final_op, checkers,
                    defaults={"crdt_type": "lww"}, client_gen=client_gen)
