"""A work queue: producers enqueue unique messages, consumers dequeue, process and acknowledge them, a few
consumers are slow (they take longer than the lease, so their message is redelivered to another consumer); at the
end every client thread drains the queue. Judged by the queue checker: lost, duplicated (exactly-once processing
unless ``at_least_once``), unexpected messages, and per-producer FIFO order if ``fifo`` is set.

Options: ``enqueue_fraction`` (0.55: the queue keeps a small backlog), ``slow_fraction`` (0.05) and ``slow_time`` (s,
0.5) for slow consumers, ``at_least_once`` (false), ``fifo`` (false).
"""

from __future__ import annotations

from splitbrain.checkers.queue import check_queue
from splitbrain.checkers.stats import check_stats
from splitbrain.harness.workloads import Workload


def client_op(ctx, options: dict) -> dict:
    if ctx.rng.random() < options.get("enqueue_fraction", 0.55):
        # Unique across the test: the nanosecond time of the draw plus a random tie-breaker.
        return {"f": "enqueue", "value": ctx.time * 1000 + ctx.rng.randrange(1000)}
    slow = ctx.rng.random() < options.get("slow_fraction", 0.05)
    return {"f": "dequeue", "value": options.get("slow_time", 0.5) if slow else None}


def final_op(ctx, options: dict) -> dict:
    return {"f": "drain"}


def checkers(options: dict) -> dict:
    return {"queue": lambda h: check_queue(h, at_least_once=bool(options.get("at_least_once", False)),
                                           fifo=bool(options.get("fifo", False))),
            "stats": check_stats}


WORKLOAD = Workload("queue", "enqueue unique messages, dequeue-process-ack them (some consumers slow), drain at "
                    "the end; lost, duplicated and unexpected messages", client_op, final_op, checkers)
