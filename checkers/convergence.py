"""The convergence checker: after the final heal, do all replicas agree, and on what the acknowledged ops imply?

How final reads are marked in the history: the final phase issues repeated reads per node with ``f = "final-read"``
(``final_f``) and the op's ``node`` set; only their ``ok`` completions count. A node's *final value* is its last
ok final read. Ops are grouped by ``key`` (``None`` for a single object); each key is judged alone.

Per key:

- **divergent**: the nodes' final values differ (one anomaly naming each node's value).
- what the ops imply, per datatype (``ok`` took effect, ``fail`` did not, ``info`` may or may not have):
  - ``counter`` (ops ``add`` with a delta of any sign): the value lies in ``[ok sum + sum of info negative
    deltas, ok sum + sum of info positive deltas]``.
  - ``set`` (``add``/``remove`` of an element, add-wins/OR-set semantics): a remove can only cancel adds it
    observed, and it can have observed an add only if the add was invoked before the remove completed. So an element
    *must be present* if some ok add of it could not have been observed by any non-failed remove; it *must be
    absent* if it was never added by a non-failed op, or if every non-failed add of it was ok and was certainly
    observed by an ok remove (same node, add completed before the remove began: a replica sees its own updates);
    anything else may go either way. Anomalies ``lost`` and ``unexpected``.
  - ``register`` (``write``; last-writer-wins or any single-value register): the value is one that a non-failed
    write wrote, and not ``None`` if some write was ok.
  - ``mv-register`` (``write``; final read is a list of concurrent values): every value was written by a
    non-failed write; not empty if some write was ok.
- **convergence time**: from the first final read's invocation until, on every node, the run of final reads that
  all equal the common final value began (reported in ms; ``None`` if they never agreed).

Multi-key final reads: a workload with several keys may end with one ``final-read-all`` per client thread instead of
one ``final-read`` per key (a whole-node snapshot is one request, and every node then reads every key). Its
invocation value is the list of keys, its ok completion value the list of ``[key, value]`` pairs.
``expand_final_reads`` rewrites each such op into one ``final-read`` per key (same process, node, index and times),
so this checker and the causal one judge them like any read; ``check_convergence`` does that itself.

Result: ``{"valid", "checker": "convergence", "anomalies": [{"type", "ops", "explanation", ...}], "keys": {...}}``.
``ops`` are invoke indices. ``valid`` is ``"unknown"`` if a key has no final reads at all or the ``time_limit`` passed. The checker never
trusts or needs cluster knowledge beyond the ops' ``node`` field, and never mutates the history.
"""

from __future__ import annotations

import json
import time as _time
from typing import Any, Sequence

from splitbrain.history.ops import FAIL, INFO, INVOKE, OK, Op, pair_ops
from splitbrain.history.values import json_key as _c
from splitbrain.history.verdict import UNKNOWN

FINAL_READ_ALL = "final-read-all"

DATATYPES = ("counter", "set", "register", "mv-register")
INF = float("inf")
_MAX_OPS_LISTED = 20


def _norm(datatype: str, v: Any):
    """A hashable, order-free form of a read value, for comparing replicas."""
    if datatype in ("set", "mv-register"):
        return frozenset(_c(x) for x in v) if isinstance(v, list) else ("not-a-list", _c(v))
    return _c(v)


def _show(v: Any, limit: int = 200) -> str:
    s = _c(v)
    return s if len(s) <= limit else s[:limit] + "..."


def check_convergence(history: Sequence[Op], *, datatype: str, final_f: str = "final-read", add_f: str = "add",
                      remove_f: str = "remove", write_f: str = "write", time_limit: float = 30.0) -> dict:
    if datatype not in DATATYPES:
        raise ValueError(f"unknown datatype {datatype!r} (known: {', '.join(DATATYPES)})")
    deadline = _time.monotonic() + time_limit
    by_key: dict[str, list] = {}
    for p in pair_ops(expand_final_reads(history, final_f=final_f)):
        by_key.setdefault(_c(p.invoke.key), []).append(p)
    anomalies: list[dict] = []
    keys: dict[str, dict] = {}
    unknown: list[str] = []
    for k, pairs in by_key.items():
        if _time.monotonic() > deadline:
            return {"valid": UNKNOWN, "checker": "convergence", "anomalies": anomalies, "keys": keys,
                    "error": f"time limit of {time_limit} s reached"}
        res = _check_key(json.loads(k), pairs, datatype, final_f, add_f, remove_f, write_f)
        keys[k] = res["summary"]
        anomalies.extend(res["anomalies"])
        if res["unknown"]:
            unknown.append(res["unknown"])
    valid: Any = False if anomalies else (UNKNOWN if unknown or not keys else True)
    out = {"valid": valid, "checker": "convergence", "datatype": datatype, "anomalies": anomalies, "keys": keys}
    if unknown:
        out["error"] = "; ".join(unknown)
    if not keys:
        out["error"] = "the history has no ops"
    return out


def expand_final_reads(history: Sequence[Op], *, all_f: str = FINAL_READ_ALL, final_f: str = "final-read") -> list[Op]:
    """The history with each ``all_f`` op (see the module docstring) replaced by one ``final_f`` read per key.

    The per-key ops keep the original's index (so anomalies point at the recorded op), process, node and times;
    each invoke is emitted right before its completion, which keeps every process's ops in order. A non-ok
    completion becomes a non-ok read of every key (value None); an ok one whose value is not a list of pairs
    becomes ok reads of the malformed value itself, so that the checkers report it rather than skip it. Pure: the
    input is not changed, and a history without ``all_f`` ops comes back as an equal list.
    """
    out: list[Op] = []
    pending: dict = {}
    for op in history:
        if op.f != all_f:
            out.append(op)
            continue
        if op.type == INVOKE:
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is None:
            continue  # a completion without an invocation: nothing to pair it with
        keys = inv.value if isinstance(inv.value, list) else []
        got: dict[str, Any] = {}
        malformed = op.type == OK and not (isinstance(op.value, list) and all(
            isinstance(kv, list) and len(kv) == 2 for kv in op.value))
        if op.type == OK and not malformed:
            got = {_c(k): v for k, v in op.value}
        for k in keys:
            value = op.value if malformed else got.get(_c(k)) if op.type == OK else None
            out.append(Op(inv.index, inv.time, inv.process, inv.type, final_f, None, inv.node, k))
            out.append(Op(op.index, op.time, op.process, op.type, final_f, value, op.node, k, op.error))
    for inv in pending.values():  # never completed: an invocation per key, left open like the original
        for k in inv.value if isinstance(inv.value, list) else []:
            out.append(Op(inv.index, inv.time, inv.process, inv.type, final_f, None, inv.node, k))
    return out


def _check_key(key, pairs, datatype, final_f, add_f, remove_f, write_f) -> dict:
    label = "" if key is None else f" of key {_show(key)}"
    finals: dict[str, list] = {}
    first_final = None
    for p in pairs:
        if p.invoke.f != final_f:
            continue
        first_final = p.invoke.time if first_final is None else min(first_final, p.invoke.time)
        if p.type == OK:
            node = p.invoke.node or p.complete.node or f"process {p.invoke.process}"
            finals.setdefault(node, []).append(p)
    anomalies: list[dict] = []
    summary: dict = {"nodes": {}, "convergence_ms": None}
    if not finals:
        return {"anomalies": [], "summary": summary, "unknown": f"no ok {final_f!r} ops{label}"}
    last = {}
    for node, reads in sorted(finals.items()):
        reads.sort(key=lambda p: p.complete.time)
        last[node] = reads[-1]
        summary["nodes"][node] = {"final_value": reads[-1].complete.value, "final_reads": len(reads)}

    distinct = {}
    for node, p in last.items():
        distinct.setdefault(_norm(datatype, p.complete.value), []).append(node)
    if len(distinct) > 1:
        parts = [f"{', '.join(nodes)} read {_show(last[nodes[0]].complete.value)}" for nodes in distinct.values()]
        anomalies.append({"type": "divergent", "key": key, "ops": [p.invoke.index for p in last.values()],
                          "nodes": {n: p.complete.value for n, p in last.items()},
                          "explanation": f"After the final heal the replicas{label} still disagree: "
                                         + "; ".join(parts) + "."})
    else:
        # Convergence time: when did every node's trailing run of reads equal to the final value begin?
        target = next(iter(distinct))
        settled = []
        for node, reads in finals.items():
            i = len(reads)
            while i > 0 and _norm(datatype, reads[i - 1].complete.value) == target:
                i -= 1
            settled.append(reads[i].complete.time)
        summary["convergence_ms"] = round((max(settled) - first_final) / 1e6, 3)

    checker = {"counter": _counter, "set": _set, "register": _register, "mv-register": _mv}[datatype]
    anomalies.extend(checker(key, label, pairs, last, add_f, remove_f, write_f, summary))
    return {"anomalies": anomalies, "summary": summary, "unknown": None}


def _counter(key, label, pairs, last, add_f, remove_f, write_f, summary) -> list[dict]:
    ok_sum = pos = neg = 0
    for p in pairs:
        if p.invoke.f != add_f or p.type == FAIL or not isinstance(p.invoke.value, (int, float)):
            continue
        d = p.invoke.value
        if p.type == OK:
            ok_sum += d
        elif d >= 0:
            pos += d
        else:
            neg += d
    lo, hi = ok_sum + neg, ok_sum + pos
    summary["expected"] = [lo, hi]
    out = []
    for node, p in sorted(last.items()):
        v = p.complete.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            out.append({"type": "wrong-value", "key": key, "node": node, "ops": [p.invoke.index],
                        "value": v, "expected": [lo, hi],
                        "explanation": f"{node}'s final counter{label} is {_show(v)}, but the acknowledged adds "
                                       f"sum to {ok_sum} and the unknown ones allow only {lo} to {hi}."})
    return out


def _set(key, label, pairs, last, add_f, remove_f, write_f, summary) -> list[dict]:
    adds: dict[str, list] = {}
    removes: dict[str, list] = {}
    for p in pairs:
        if p.type == FAIL:
            continue
        if p.invoke.f == add_f:
            adds.setdefault(_c(p.invoke.value), []).append(p)
        elif p.invoke.f == remove_f:
            removes.setdefault(_c(p.invoke.value), []).append(p)

    def end(p):
        return p.complete.time if p.type == OK else INF

    must, must_not = {}, {}   # element -> the ops that make it so
    for e, alist in adds.items():
        rlist = removes.get(e, [])
        for a in alist:
            if a.type == OK and not any(a.invoke.time < end(r) for r in rlist):
                must[e] = [a.invoke.index]
                break
        else:
            certain = []
            for a in alist:
                r = next((r for r in rlist if a.type == OK and r.type == OK and r.invoke.node == a.invoke.node
                          and r.invoke.node is not None and a.complete.time < r.invoke.time), None)
                if r is None:
                    break
                certain += [a.invoke.index, r.invoke.index]
            else:
                must_not[e] = certain
    summary["must_be_present"] = len(must)
    summary["may_be_present"] = len(adds) - len(must) - len(must_not)
    out = []
    for node, p in sorted(last.items()):
        v = p.complete.value
        if not isinstance(v, list):
            out.append({"type": "wrong-value", "key": key, "node": node, "ops": [p.invoke.index], "value": v,
                        "explanation": f"{node}'s final read{label} returned {_show(v)}, which is not a set."})
            continue
        have = {_c(x) for x in v}
        lost = sorted(set(must) - have)
        if lost:
            ops = [i for e in lost for i in must[e]][:_MAX_OPS_LISTED]
            out.append({"type": "lost", "key": key, "node": node, "ops": [p.invoke.index] + ops,
                        "elements": [json.loads(e) for e in lost[:_MAX_OPS_LISTED]], "count": len(lost),
                        "explanation": f"{node}'s final read{label} lacks {len(lost)} element(s), e.g. "
                                       f"{lost[0]}, whose add was acknowledged and which no remove can have "
                                       "seen before it completed."})
        unexpected = sorted(e for e in have if e not in adds or e in must_not)
        if unexpected:
            ops = [i for e in unexpected for i in must_not.get(e, [])][:_MAX_OPS_LISTED]
            never = [e for e in unexpected if e not in adds]
            why = ("was never added by an op that did not fail" if never else
                   "was removed, on the node that added it, after every add of it had completed")
            out.append({"type": "unexpected", "key": key, "node": node, "ops": [p.invoke.index] + ops,
                        "elements": [json.loads(e) for e in unexpected[:_MAX_OPS_LISTED]],
                        "count": len(unexpected),
                        "explanation": f"{node}'s final read{label} contains {len(unexpected)} element(s) it "
                                       f"must not, e.g. {unexpected[0]}, which {why}."})
    return out


def _writes(pairs, write_f):
    written = {}
    any_ok = None
    for p in pairs:
        if p.invoke.f == write_f and p.type != FAIL:
            written.setdefault(_c(p.invoke.value), p.invoke.index)
            if p.type == OK and any_ok is None:
                any_ok = p.invoke.index
    return written, any_ok


def _register(key, label, pairs, last, add_f, remove_f, write_f, summary) -> list[dict]:
    written, any_ok = _writes(pairs, write_f)
    out = []
    for node, p in sorted(last.items()):
        v = p.complete.value
        if v is None and any_ok is not None:
            out.append({"type": "lost", "key": key, "node": node, "ops": [p.invoke.index, any_ok],
                        "explanation": f"{node}'s final read{label} is empty although a write was "
                                       "acknowledged."})
        elif v is not None and _c(v) not in written:
            out.append({"type": "unexpected", "key": key, "node": node, "ops": [p.invoke.index], "value": v,
                        "explanation": f"{node}'s final read{label} returned {_show(v)}, which no write that "
                                       "did not fail wrote."})
    return out


def _mv(key, label, pairs, last, add_f, remove_f, write_f, summary) -> list[dict]:
    written, any_ok = _writes(pairs, write_f)
    out = []
    for node, p in sorted(last.items()):
        v = p.complete.value
        if not isinstance(v, list):
            out.append({"type": "wrong-value", "key": key, "node": node, "ops": [p.invoke.index], "value": v,
                        "explanation": f"{node}'s final read{label} returned {_show(v)}, not a list of values."})
            continue
        if not v and any_ok is not None:
            out.append({"type": "lost", "key": key, "node": node, "ops": [p.invoke.index, any_ok],
                        "explanation": f"{node}'s final read{label} is empty although a write was "
                                       "acknowledged."})
        bad = [x for x in v if _c(x) not in written]
        if bad:
            out.append({"type": "unexpected", "key": key, "node": node, "ops": [p.invoke.index], "values": bad,
                        "explanation": f"{node}'s final read{label} holds {_show(bad[0])}, which no write that "
                                       "did not fail wrote."})
    return out
