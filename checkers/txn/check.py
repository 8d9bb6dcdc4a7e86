"""The transactional checker: history -> transactions -> dependency graph -> anomalies -> a verdict per model.

``check_txn(history, model=...)`` judges list-append or rw-register histories (``kind="auto"`` picks by the
first write micro-op). The result's ``valid`` is the verdict for ``model``; ``models`` gives every model's
verdict with the anomalies that rule it out; ``anomalies`` has up to a few examples per type, each with an
``explanation`` sentence and, for cycles, the ``cycle`` steps (from, to, kind, why) a report draws. A deadline or
an exhausted search budget gives ``unknown`` for what it left open, never ``true``.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from operator import attrgetter
from typing import Sequence

from splitbrain.checkers.txn.append import AppendInference
from splitbrain.checkers.txn.base import Inference
from splitbrain.checkers.txn.cycles import CycleSearch
from splitbrain.checkers.txn.graph import (DATA, KIND_NAMES, PROCESS, REALTIME, RW, cyclic_all, cyclic_part, native,
                                          new_graph)
from splitbrain.checkers.txn.models import ALWAYS, DESCRIPTIONS, MODELS, NEEDS
from splitbrain.checkers.txn.nonadjacent import si_cyclic
from splitbrain.checkers.txn.orders import add_process_edges, add_realtime_edges
from splitbrain.checkers.txn.register import RegisterInference
from splitbrain.checkers.txn.txns import APPEND, OK, WRITE, Txn, TxnFormatError, bad_mop, collect
from splitbrain.history.ops import FAIL, Op
from splitbrain.history.verdict import UNKNOWN

KINDS = ("auto", "list-append", "rw-register")


def _detect_kind(txns: list[Txn]) -> str:
    """list-append or rw-register, by the first write micro-op, else by the first read that returned something."""
    read_kind = None
    for t in txns:
        try:
            for f, _, v in t.mops:
                if f == APPEND:
                    return "list-append"
                if f == WRITE:
                    return "rw-register"
                if read_kind is None and v is not None and t.type == OK:
                    read_kind = "list-append" if type(v) is list else "rw-register"
        except (ValueError, TypeError):
            raise bad_mop(t) from None
    return read_kind or "list-append"


def check_txn(history: Sequence[Op], **options) -> dict:
    """Judge a transactional history (see :func:`_check` for the options). The cyclic garbage collector is off
    meanwhile: the check builds millions of small acyclic objects, and collections cost a quarter of its time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(history, **options)
    finally:
        if was_enabled:
            gc.enable()


def _check(history: Sequence[Op], *, model: str = "serializable", kind: str = "auto",
              realtime: bool | None = None, process: bool | None = None, time_limit: float = 60.0,
              search_budget: int = 2_000_000) -> dict:
    """Judge a transactional history under ``model`` (one of ``splitbrain.checkers.txn.models.MODELS``).

    ``realtime``/``process`` add those orders (default: when ``model`` needs them). ``time_limit`` seconds bound
    the whole check; ``search_budget`` bounds the node visits of the cycle search.
    """
    if model not in MODELS:
        return {"valid": UNKNOWN, "cause": f"unknown consistency model {model!r} (known: {', '.join(MODELS)})"}
    if kind not in KINDS:
        return {"valid": UNKNOWN, "cause": f"unknown transaction kind {kind!r} (known: {', '.join(KINDS)})"}
    deadline = time.monotonic() + time_limit
    realtime = "realtime" in NEEDS[model] if realtime is None else realtime
    process = "process" in NEEDS[model] if process is None else process
    events: list[int] = []
    try:
        txns = collect(history, events if realtime else None)
        if kind == "auto":
            kind = _detect_kind(txns)
        adj = new_graph(len(txns))
        inference: Inference = (AppendInference if kind == "list-append" else RegisterInference)(txns, adj)
    except TxnFormatError as e:
        return {"valid": UNKNOWN, "cause": f"malformed transaction: {e}"}
    types = Counter(map(attrgetter("type"), txns))
    summary = {"kind": kind, "model": model, "txn_count": len(txns), "ok": types[OK], "fail": types[FAIL]}
    summary["info"] = summary["txn_count"] - summary["ok"] - summary["fail"]
    if inference.problems:
        return {"valid": UNKNOWN, **summary, "cause": "the history breaks the checker's assumption of unique "
                "values per key: " + "; ".join(inference.problems[:3])}
    extra = (PROCESS if process else 0) | (REALTIME if realtime else 0)
    # Natively, the acyclicity test counts the real-time edges without their being added (a third of the time of a
    # valid history); they are added only when it leaves something to search.
    rt_later = realtime and native()
    if realtime and not rt_later:
        add_realtime_edges(txns, adj, events)
    elif process and not realtime:
        add_process_edges(txns, adj)
    if realtime and isinstance(inference, AppendInference):
        inference.find_lost_appends()

    search = CycleSearch(adj, search_budget)
    timed_out = False
    # Cycles of a subgraph lie in the cycles of the whole, so one pass over the largest graph settles a valid
    # history; the searches then look only at what it left.
    # Process order is part of real-time order (a process's next transaction begins after its last one completed),
    # so with real-time edges the process edges change no reachability: they are added only to name cycles.
    # The graph holds only DATA | extra edges (or will, with rt_later): ALL says the same and skips mask tests.
    suspects = cyclic_all(adj, events if rt_later else None)
    if suspects and rt_later:
        add_realtime_edges(txns, adj, events)
    if suspects and process and realtime:
        add_process_edges(txns, adj)
    if suspects:
        for ex in dict.fromkeys((0, extra & PROCESS, extra)):
            if time.monotonic() > deadline:
                timed_out = True
                break
            search.search(suspects, ex)

    # Snapshot isolation: decided exactly on the data edges (nonadjacent.si_cyclic), with the shortest
    # G-nonadjacent cycle of each component as evidence. Its visits have their own budget: the verdict does not
    # depend on them.
    si_nodes: set[int] = set()
    if suspects and not timed_out:
        if time.monotonic() > deadline:
            timed_out = True
        else:
            si_nodes = si_cyclic(adj, cyclic_part(adj, DATA, suspects))
            if si_nodes:
                search.search_nonadjacent(si_nodes, search_budget, deadline)

    anomalies = dict(inference.anomalies)
    counts = dict(inference.counts)
    for name, cycles in search.found.items():
        anomalies[name] = [_describe_cycle(name, steps, txns, inference) for steps in cycles]
        counts[name] = search.counts[name]
    complete = search.complete and not timed_out
    models = {}
    for m, banned in MODELS.items():
        ruled = sorted(a for a in counts if a in banned)
        if ruled:
            models[m] = {"valid": False, "ruled_out_by": ruled}
        elif m == "snapshot-isolation" and si_nodes:
            models[m] = {"valid": False, "ruled_out_by": [], "cause": "a cycle with no two adjacent rw edges "
                         "exists (the exact test found it) but the search ran out of budget or time before naming "
                         "it"}
        elif m == "snapshot-isolation" and not timed_out:
            models[m] = {"valid": True}  # si_cyclic is exact and needs no budget
        elif not complete:
            models[m] = {"valid": UNKNOWN, "cause": "the cycle search ran out of time or budget"}
        elif any(n == "process" and not process or n == "realtime" and not realtime for n in NEEDS[m]):
            models[m] = {"valid": UNKNOWN, "cause": "not checked: needs " + " and ".join(sorted(NEEDS[m])) +
                         " order edges"}
        else:
            models[m] = {"valid": True}
    result = {"valid": models[model]["valid"], **summary, "anomaly_types": sorted(counts),
              "anomaly_counts": counts, "anomalies": anomalies,
              "not": [m for m, v in models.items() if v["valid"] is False], "models": models,
              "descriptions": {a: DESCRIPTIONS.get(a, a) for a in counts},
              "orders": [o for o, on in (("process", process), ("realtime", realtime)) if on]}
    if counts:
        first = min(counts, key=_severity)
        more = f" ({len(counts)} anomaly types in all: {', '.join(sorted(counts))})" if len(counts) > 1 else ""
        result["explanation"] = f"{first}: {anomalies[first][0]['explanation']}{more}"
    if not complete:
        result["cause"] = ("the deadline passed" if timed_out else "the cycle search ran out of budget") + \
            " before the search was done"
    return result


_ORDER = ("G0", "G1a", "G1b", "G1c", "lost-update", "G-single", "G2-item", "G-nonadjacent")


def _severity(name: str) -> tuple:
    """Which anomaly to name first: the ones that rule out every model, then Adya's order, then real-time ones."""
    if name in ALWAYS:
        return (0, name)
    base = name.replace("-realtime", "").replace("-process", "")
    return (1 + (name != base), _ORDER.index(base) if base in _ORDER else len(_ORDER), name)


def _why(a: Txn, b: Txn, kind: int, inference: Inference) -> str:
    if kind == PROCESS:
        return f"{b.name} ran after {a.name} in process {a.process}"
    if kind == REALTIME:
        return f"{a.name} completed before {b.name} was invoked"
    return inference.explain(a.id, b.id, kind) or f"{a.name} -{KIND_NAMES[kind]}-> {b.name}"


def _describe_cycle(name: str, steps, txns: list[Txn], inference: Inference) -> dict:
    """A cycle as evidence: its steps with a sentence each, its transactions, and one explanation."""
    edges = [{"from": txns[a].name, "to": txns[b].name, "kind": KIND_NAMES[k],
              "why": _why(txns[a], txns[b], k, inference)} for a, b, k in steps]
    order = [txns[a] for a, _, _ in steps]
    first = order[0].name
    others = ", ".join(t.name for t in order[1:])
    sentence = "; ".join(e["why"] for e in edges)
    if name == "G-nonadjacent":
        n_rw = sum(1 for _, _, k in steps if k == RW)
        names = [t.name for t in order]
        so = (f"Its {n_rw} rw edges are never adjacent, so not even snapshot isolation can order "
              f"{', '.join(names[:-1])} and {names[-1]}")
    else:
        so = f"So {first} must come both before and after {others}"
    explanation = f"{sentence[0].upper()}{sentence[1:]}. {so}: {name} ({DESCRIPTIONS.get(name, name)})."
    return {"type": name, "cycle": edges, "explanation": explanation,
            "txns": [{"name": t.name, "index": t.index, "process": t.process, "type": t.type, "value": t.mops}
                     for t in order]}
