"""Chat: members post unique messages to a few rooms and read rooms on the node they are connected to; after the
heal every client thread reads every room once more (``final-read-all``), so every node's final deliveries are
known. Judged by the broadcast checker (splitbrain.checkers.broadcast) against the ``claim`` option: ``reliable``, ``fifo``,
``causal``, ``total`` or ``fifo-total`` (the default: a chat with ordered messages).

Options: ``rooms`` (2), ``post_fraction`` (0.5), ``claim``.
"""

from __future__ import annotations

from splitbrain.checkers.broadcast import check_broadcast
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload


def rooms(options: dict) -> list[str]:
    return [f"room{i}" for i in range(int(options.get("rooms", 2)))]


def client_op(ctx, options: dict) -> dict:
    room = f"room{ctx.rng.randrange(int(options.get('rooms', 2)))}"
    if ctx.rng.random() < options.get("post_fraction", 0.5):
        # Unique across the test: the nanosecond time of the draw plus a random tie-breaker.
        return {"f": "post", "key": room, "value": ctx.time * 1000 + ctx.rng.randrange(1000)}
    return {"f": "read", "key": room}


def final_op(ctx, options: dict) -> dict:
    return {"f": "final-read-all", "value": rooms(options)}


def checkers(options: dict) -> dict:
    claim = options.get("claim", "fifo-total")
    return {"broadcast": lambda h: check_broadcast(h, claim=claim), "stats": check_stats}


WORKLOAD = Workload("chat", "post unique messages to rooms, read them per node, read every room on every node at "
                    "the end; validity, agreement and the claimed delivery order", client_op, final_op, checkers)
