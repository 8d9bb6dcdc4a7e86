"""An add-wins set (OR-set): clients add and remove elements of a small domain, so removes and re-adds race; after
the final heal every node reads repeatedly (``final-read``). Judged by convergence with add-wins semantics: an
acknowledged add that no remove can have seen must survive (a two-phase set loses re-adds)."""

from __future__ import annotations

from splitbrain.checkers.convergence import check_convergence
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload

KEY = "s"


def client_op(ctx, options: dict) -> dict:
    roll = ctx.rng.random()
    if roll < options.get("read_fraction", 0.1):
        return {"f": "read", "key": KEY}
    element = ctx.rng.randrange(options.get("elements", 20))
    return {"f": "remove" if roll < 0.4 else "add", "key": KEY, "value": element}


def final_op(ctx, options: dict) -> dict:
    return {"f": "final-read", "key": KEY}


def checkers(options: dict) -> dict:
    return {"convergence": lambda h: check_convergence(h, datatype="set"), "stats": check_stats}


WORKLOAD = Workload("crdt-set", "an add-wins set: add/remove racing elements; replicas converge, re-adds survive",
                    client_op, final_op, checkers, defaults={"crdt_type": "set"})
