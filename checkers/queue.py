"""The queue checker: what became of every message a producer enqueued.

Ops (by ``f``):

- ``enqueue``: value = the message (any JSON value, unique per enqueue).
- ``dequeue``: ``ok`` value = the message the consumer processed (its acknowledgement was accepted), or null when
  the queue had nothing to give; ``info`` value = the message whose processing may or may not have counted (the
  acknowledgement's answer was lost), or null.
- ``drain`` (the final phase): ``ok`` value = ``{"messages": [...], "empty": bool}``, every message processed by
  this drain, and whether it ended by finding the queue empty (rather than running out of time); an optional
  ``uncertain`` list names messages whose acknowledgement's outcome the drain could not learn (maybe processed).

Verdicts, per message:

- *lost*: its enqueue was acknowledged (``ok``) and no consumer ever processed it (nor may have: an ``info``
  dequeue naming it counts as maybe-processed), although a drain that began after the enqueue completed found the
  queue empty. Without such a drain there is no proof of loss: the message is *unconfirmed*, and the verdict is
  ``unknown`` if nothing worse was found.
- *duplicated*: processed (``ok``) more than once. A violation unless ``at_least_once=True`` (the system promises
  at-least-once processing only), where duplicates are reported but allowed.
- *unexpected*: processed, but never enqueued (or its enqueue definitely failed).
- *FIFO* (only with ``fifo=True``): per producer (client process), if m1's enqueue completed before m2's was
  invoked, m2 must not be processed before m1 was: a first ``ok`` dequeue of m2 that completed before the first
  dequeue of m1 was invoked is a violation.

Each violation names its message, the ops involved (history indices) and says what went wrong in one sentence.
"""

from __future__ import annotations

from typing import Sequence

from splitbrain.history.ops import FAIL, INFO, OK, Op, pair_ops
from splitbrain.history.values import freeze as _h
from splitbrain.history.verdict import UNKNOWN

_MAX_LISTED = 50


def check_queue(history: Sequence[Op], *, at_least_once: bool = False, fifo: bool = False) -> dict:
    """Judge a queue history (see the module docstring). Returns ``{"valid", "checker": "queue", counts...,
    "anomalies": [{"type", "message", "ops", "explanation"}]}``."""
    enq: dict = {}            # message -> (type, invoke op, completion op or None)
    processed: dict = {}      # message -> [(invoke op, completion op)] of ok processing
    maybe: set = set()        # messages an info dequeue may have processed
    drains: list = []         # (invoke op, completion op, empty?)
    for p in pair_ops(history):
        f, inv, comp = p.invoke.f, p.invoke, p.complete
        if f == "enqueue":
            enq[_h(inv.value)] = (p.type, inv, comp)
        elif f == "dequeue":
            if p.type == OK and comp.value is not None:
                processed.setdefault(_h(comp.value), []).append((inv, comp))
            elif p.type == INFO and comp is not None and comp.value is not None:
                maybe.add(_h(comp.value))
        elif f == "drain" and p.type == OK and isinstance(comp.value, dict):
            for m in comp.value.get("messages") or []:
                processed.setdefault(_h(m), []).append((inv, comp))
            maybe.update(_h(m) for m in comp.value.get("uncertain") or [])
            drains.append((inv, comp, bool(comp.value.get("empty"))))

    anomalies: list[dict] = []
    counts = {"lost": 0, "duplicated": 0, "unexpected": 0, "fifo": 0}

    def add(kind: str, item: dict) -> None:
        counts[kind] += 1
        if counts[kind] <= _MAX_LISTED:
            anomalies.append({"type": kind, **item})

    empty_drain_starts = sorted(inv.time for inv, _, empty in drains if empty)
    unconfirmed = 0
    acked = 0
    for m, (typ, inv, comp) in enq.items():
        if typ != OK:
            continue
        acked += 1
        if m in processed or m in maybe:
            continue
        if any(t > comp.time for t in empty_drain_starts):
            drain = next(d for d in drains if d[2] and d[0].time > comp.time)
            add("lost", {"message": m, "ops": [inv.index, comp.index, drain[0].index, drain[1].index],
                         "explanation": f"The enqueue of {m!r} was acknowledged (op {comp.index}), yet no consumer "
                                        f"ever processed it, and a later drain (op {drain[1].index}) found the queue "
                                        "empty."})
        else:
            unconfirmed += 1

    for m, uses in processed.items():
        uses.sort(key=lambda u: u[1].index)
        e = enq.get(m)
        if e is None or e[0] == FAIL:
            why = "was never enqueued" if e is None else f"whose enqueue failed (op {e[2].index})"
            add("unexpected", {"message": m, "ops": [c.index for _, c in uses][:5],
                               "explanation": f"A consumer processed {m!r}, which {why}."})
        if len(uses) > 1:
            add("duplicated", {"message": m, "ops": [c.index for _, c in uses][:5],
                               "explanation": f"{m!r} was processed {len(uses)} times (ops "
                                              f"{', '.join(str(c.index) for _, c in uses[:5])}); "
                                              + ("at-least-once allows it." if at_least_once else
                                                 "each message must be processed exactly once.")})

    if fifo:
        _check_fifo(enq, processed, add)

    bad = counts["lost"] or counts["unexpected"] or counts["fifo"] or (counts["duplicated"] and not at_least_once)
    valid = False if bad else (UNKNOWN if unconfirmed else True)
    out = {"valid": valid, "checker": "queue", "acknowledged": acked,
           "attempted": sum(1 for t, _, _ in enq.values() if t != FAIL),
           "processed": sum(len(u) for u in processed.values()), "distinct_processed": len(processed),
           "lost_count": counts["lost"], "duplicated_count": counts["duplicated"],
           "unexpected_count": counts["unexpected"], "fifo_count": counts["fifo"], "unconfirmed_count": unconfirmed,
           "drains": len(drains), "empty_drains": len(empty_drain_starts), "anomalies": anomalies}
    if valid == UNKNOWN:
        out["explanation"] = (f"{unconfirmed} acknowledged message(s) were never processed, but no drain found "
                              "the queue empty after them: they may still be in it.")
    return out


def _check_fifo(enq: dict, processed: dict, add) -> None:
    """Per producer process: m1 enqueued (ok) before m2 was invoked means m1 is processed first."""
    by_producer: dict = {}
    for m, (typ, inv, comp) in enq.items():
        if typ == OK and m in processed:
            by_producer.setdefault(inv.process, []).append((inv, comp, m))
    for producer, items in by_producer.items():
        items.sort(key=lambda x: x[0].time)
        first = {m: min(processed[m], key=lambda u: u[1].time) for _, _, m in items}
        for i, (inv1, comp1, m1) in enumerate(items):
            for inv2, _, m2 in items[i + 1:]:
                if inv2.time <= comp1.time:
                    continue  # concurrent enqueues: no order promised
                d1, d2 = first[m1], first[m2]
                if d2[1].time < d1[0].time:
                    add("fifo", {"message": m2, "messages": [m1, m2],
                                 "ops": [comp1.index, inv2.index, d2[1].index, d1[1].index],
                                 "explanation": f"Producer {producer} enqueued {m1!r} before {m2!r}, but {m2!r} was "
                                                f"processed (op {d2[1].index}) before {m1!r}'s dequeue began (op "
                                                f"{d1[0].index})."})
                    break
