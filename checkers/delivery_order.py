"""The delivery order of replicas: did each replica deliver every update after the ones it depends on?

``check_delivery_order`` (a second opinion: it needs the system's own logs, which a user's system may not offer;
its result says so in ``second_opinion``) takes each replica's delivery log (node -> [{"id", "origin", "seq"?,
"vc"}] in delivery order; ``vc[origin]`` is the update's own sequence number) and reports every delivery that came
before an update it depends on (happens-before by vector clock), duplicates, and per-origin gaps.
Past ``time_limit`` seconds the verdict is ``"unknown"``, never ``true``.
"""

from __future__ import annotations

import time as _time

from splitbrain.history.verdict import UNKNOWN

MAX_PER_TYPE = 100


def check_delivery_order(delivery_logs: dict, *, time_limit: float = 30.0) -> dict:
    """Judge each replica's delivery order against happens-before (see the module docstring)."""
    deadline = _time.monotonic() + time_limit
    anomalies: list[dict] = []
    counts: dict[str, int] = {}
    all_ids: set[str] = set()
    per_node: dict[str, set] = {}
    for node, entries in sorted(delivery_logs.items()):
        pos_of: dict[str, int] = {}
        for i, e in enumerate(entries):
            pos_of.setdefault(_uid(e), i)
        got: dict[str, int] = {}       # origin -> contiguous seq delivered
        extra: dict[str, set] = {}     # origin -> seqs delivered beyond a gap
        seen: set[str] = set()
        for i, e in enumerate(entries):
            if i % 4096 == 0 and _time.monotonic() > deadline:
                return {"valid": UNKNOWN, "checker": "delivery-order", "second_opinion": SECOND_OPINION,
                        "anomalies": anomalies[:MAX_PER_TYPE],
                        "error": f"time limit of {time_limit} s reached"}
            uid, origin, seq, vc = _uid(e), e["origin"], _seq(e), e.get("vc") or {}
            problem = None
            if uid in seen:
                problem = ("duplicate-delivery", [uid], f"{node} delivered {uid} a second time (position {i}).")
            elif seq > got.get(origin, 0) + 1:
                missing = f"{origin}:{got.get(origin, 0) + 1}"
                problem = ("fifo-violation", [missing, uid],
                           f"{node} delivered {uid} before {missing}, an earlier update of the same origin"
                           + _later(pos_of, missing) + ".")
            else:
                for k, n in sorted(vc.items()):
                    if k != origin and n > got.get(k, 0) and not all(x in extra.get(k, ()) for x in
                                                                     range(got.get(k, 0) + 1, n + 1)):
                        missing = f"{k}:{got.get(k, 0) + 1}"
                        problem = ("causal-violation", [missing, uid],
                                   f"{node} delivered {uid} before {missing}, which happened before it (its "
                                   f"vector clock has {k}:{n})" + _later(pos_of, missing) + ".")
                        break
            if problem is not None:
                counts[problem[0]] = counts.get(problem[0], 0) + 1
                if counts[problem[0]] <= MAX_PER_TYPE:
                    anomalies.append({"type": problem[0], "node": node, "ops": [], "updates": problem[1],
                                      "position": i, "explanation": problem[2]})
            seen.add(uid)
            if seq == got.get(origin, 0) + 1:
                got[origin] = seq
                ex = extra.get(origin, set())
                while got[origin] + 1 in ex:
                    got[origin] += 1
                    ex.discard(got[origin])
            elif seq > got.get(origin, 0):
                extra.setdefault(origin, set()).add(seq)
        per_node[node] = seen
        all_ids |= seen
    undelivered = {n: len(all_ids - s) for n, s in per_node.items()}
    return {"valid": not anomalies, "checker": "delivery-order", "second_opinion": SECOND_OPINION,
            "anomalies": anomalies,
            "anomaly_counts": counts, "delivered": {n: len(s) for n, s in per_node.items()},
            "undelivered": undelivered}


SECOND_OPINION = ("judged from the replicas' own delivery logs, not from what clients saw: a second opinion beside "
                  "the causal checker, which a system without such logs does not get")


def _uid(e: dict) -> str:
    return e.get("id") or f"{e['origin']}:{_seq(e)}"


def _seq(e: dict) -> int:
    return int(e["seq"]) if e.get("seq") is not None else int(e["vc"][e["origin"]])


def _later(pos_of: dict, uid: str) -> str:
    return f" (it came only at position {pos_of[uid]})" if uid in pos_of else " (it never came)"
