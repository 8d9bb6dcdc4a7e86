"""Counterexamples drawn Porcupine-style: the ops around a failure as bars in one lane per client process, in event
order, with the longest linearizable prefix numbered, the op that could not be placed marked, and the model's
states spelled out.

Contract: this module only lays out what a checker reported (``results.json``); it never decides what is wrong.
Indices that don't exist in the history are skipped and counted in ``missing`` rather than raising, because a
report must still show the rest. Everything returned is plain data for the Jinja template (which escapes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.history import INFO, OK, Op, Pair, pair_ops

from reports.safe_json import cut, short_json, text_of

#: At most this many ops are drawn; beyond it the ones nearest the failure in time are kept.
MAX_DRAWN = 40
#: At most this many steps of the linearized prefix are listed with their states.
MAX_PREFIX_ROWS = 25
LABEL_CHARS = 28
STATE_CHARS = 200

# Geometry of the drawing, in SVG user units.
LANE_H = 30
BAR_H = 20
CHAR_W = 6.2   # width of one character of the 11px monospace label
LEFT = 64
STEP_MIN, STEP_MAX, WIDTH_TARGET = 26, 110, 1150
TOP = 10


def describe(pair: Pair, limit: int = LABEL_CHARS) -> str:
    """``write 3``, ``read → 3``, ``cas [1,2] ✗``: an op for people (values cut to ``limit`` characters)."""
    inv, done = pair.invoke, pair.complete
    text = inv.f
    if inv.value is not None:
        text += " " + short_json(inv.value, limit)
    if done is not None and done.type == OK and done.value is not None and done.value != inv.value:
        text += " \u2192 " + short_json(done.value, limit)
    elif done is not None and done.type != OK:
        text += " (" + done.type + ")"
    elif done is None:
        text += " (pending)"
    return text


class PairIndex:
    """Finds the client op (invoke + completion) that a history index belongs to."""

    def __init__(self, ops: list[Op], pairs: list[Pair] | None = None):
        self.pairs = pair_ops(ops) if pairs is None else pairs
        self.by_index: dict[int, Pair] = {}
        for p in self.pairs:
            self.by_index[p.invoke.index] = p
            if p.complete is not None:
                self.by_index[p.complete.index] = p

    def get(self, index: Any) -> Pair | None:
        return self.by_index.get(index) if isinstance(index, int) and not isinstance(index, bool) else None


@dataclass
class Bar:
    index: int            # history index of the invoke
    lane: int
    x1: float
    x2: float
    y: float
    label: str
    title: str            # the full description, for hover
    kind: str             # "linearized" | "stuck" | "involved" | "other"
    type: str             # ok | fail | info | pending
    order: int | None = None   # 1-based position in the linearized prefix


@dataclass
class Drawing:
    width: float
    height: float
    lanes: list[dict]     # {"label", "y"}
    bars: list[Bar]
    omitted: int = 0      # ops left out to keep the drawing readable


def draw(pairs: list[Pair], *, order: dict[int, int] | None = None, stuck: int | None = None,
         involved: set[int] | None = None) -> Drawing:
    """Lay out ``pairs`` as bars: one lane per process, x = rank of the op's events in time (so overlap, which is
    all linearizability cares about, is visible however far apart the ops were in seconds)."""
    order = order or {}
    involved = involved or set()
    times = sorted({p.invoke.time for p in pairs} | {p.complete.time for p in pairs if p.complete is not None})
    rank = {t: i for i, t in enumerate(times)}
    n_slots = len(times) + 1
    step = max(STEP_MIN, min(STEP_MAX, WIDTH_TARGET / max(n_slots, 1)))
    procs = sorted({p.invoke.process for p in pairs}, key=lambda x: (not isinstance(x, int), str(x)))
    lane_of = {p: i for i, p in enumerate(procs)}
    bars = []
    for p in pairs:
        inv, done = p.invoke, p.complete
        lane = lane_of[inv.process]
        x1 = LEFT + rank[inv.time] * step + 3
        x2 = LEFT + (rank[done.time] if done is not None else n_slots) * step - 3 + step
        kind = ("stuck" if inv.index == stuck else "linearized" if inv.index in order
                else "involved" if inv.index in involved else "other")
        full = f"history index {inv.index}, process {inv.process}: {describe(p, 200)}"
        if inv.node:
            full += f", node {inv.node}"
        if done is not None and done.error:
            full += f", error {cut(str(done.error), 80)}"
        x2 = max(x2, x1 + 8)
        label = describe(p)
        label = cut(label, max(2, int((x2 - x1 - 18) / CHAR_W)))
        bars.append(Bar(inv.index, lane, x1, x2, TOP + lane * LANE_H + (LANE_H - BAR_H) / 2, label, full, kind,
                        "pending" if done is None else done.type, order.get(inv.index)))
    lanes = [{"label": f"p{proc}" if isinstance(proc, int) else str(proc), "y": TOP + i * LANE_H + LANE_H / 2}
             for i, proc in enumerate(procs)]
    return Drawing(width=LEFT + (n_slots + 1) * step + 10, height=TOP + len(procs) * LANE_H + 10, lanes=lanes,
                   bars=bars)


def _nearest(pairs: list[Pair], centre: int, limit: int) -> tuple[list[Pair], int]:
    """Keep the ``limit`` ops whose invoke is nearest ``centre`` (ns); return them in invoke order and how many
    were dropped."""
    if len(pairs) <= limit:
        return pairs, 0
    kept = sorted(pairs, key=lambda p: abs(p.invoke.time - centre))[:limit]
    kept.sort(key=lambda p: p.invoke.index)
    return kept, len(pairs) - limit


@dataclass
class LinearizabilityView:
    key: str
    explanation: str
    drawing: Drawing
    prefix_rows: list[dict]      # {"order", "index", "process", "op", "state"}
    prefix_len: int
    stuck: dict | None           # {"index", "process", "op"}
    state_before: str | None
    missing: int = 0             # indices the checker named that the history doesn't have
    notes: list[str] = field(default_factory=list)


def linearizability_view(ops: list[Op], failure: dict, index: PairIndex | None = None) -> LinearizabilityView:
    """The Porcupine-style view of a linearizability checker's ``failure`` (format in the module docstring of
    checkers/linearizable.py: key, explanation, window, longest_prefix, states, stuck_op, state_before)."""
    index = index or PairIndex(ops)
    missing = 0
    window = failure.get("window") or []
    prefix = failure.get("longest_prefix") or []
    states = failure.get("states") or []
    stuck_i = failure.get("stuck_op")
    stuck_pair = index.get(stuck_i)
    if stuck_i is not None and stuck_pair is None:
        missing += 1
    shown: dict[int, Pair] = {}
    for i in window if isinstance(window, list) else []:
        p = index.get(i)
        if p is None:
            missing += 1
        else:
            shown[p.invoke.index] = p
    if stuck_pair is not None:
        shown[stuck_pair.invoke.index] = stuck_pair
    # Prefix ops that overlap the window in time give the context of the failure.
    order: dict[int, int] = {}
    prefix_pairs: list[tuple[int, Pair | None]] = []
    for n, i in enumerate(prefix if isinstance(prefix, list) else [], start=1):
        p = index.get(i)
        prefix_pairs.append((n, p))
        if p is None:
            missing += 1
            continue
        order[p.invoke.index] = n
    if shown:
        lo = min(p.invoke.time for p in shown.values())
        hi = max((p.complete or p.invoke).time for p in shown.values())
        for _, p in prefix_pairs:
            if p is not None and p.invoke.time <= hi and (p.complete is None or p.complete.time >= lo):
                shown.setdefault(p.invoke.index, p)
    elif prefix_pairs:  # no window: the tail of the prefix
        for _, p in prefix_pairs[-MAX_DRAWN:]:
            if p is not None:
                shown[p.invoke.index] = p
    centre = (stuck_pair.invoke.time if stuck_pair is not None
              else max((p.invoke.time for p in shown.values()), default=0))
    drawn, omitted = _nearest(sorted(shown.values(), key=lambda p: p.invoke.index), centre, MAX_DRAWN)
    drawing = draw(drawn, order=order, stuck=stuck_pair.invoke.index if stuck_pair else None)
    drawing.omitted = omitted
    rows = []
    for n, p in prefix_pairs[-MAX_PREFIX_ROWS:]:
        state = cut(text_of(states[n - 1]), STATE_CHARS) if n - 1 < len(states) else "?"
        rows.append({"order": n, "index": p.invoke.index if p else prefix[n - 1],
                     "process": p.invoke.process if p else "?", "op": describe(p, 80) if p else "(not in history)",
                     "state": state})
    stuck = None
    if stuck_pair is not None:
        stuck = {"index": stuck_pair.invoke.index, "process": stuck_pair.invoke.process,
                 "op": describe(stuck_pair, 80)}
    state_before = cut(text_of(failure["state_before"]), STATE_CHARS) if "state_before" in failure else None
    key = failure.get("key")
    return LinearizabilityView(key="" if key is None else cut(text_of(key), 80),
                               explanation=str(failure.get("explanation") or ""), drawing=drawing,
                               prefix_rows=rows, prefix_len=len(prefix_pairs), stuck=stuck,
                               state_before=state_before, missing=missing)


@dataclass
class AnomalyView:
    type: str
    explanation: str
    drawing: Drawing
    rows: list[dict]             # the ops: {"index", "process", "type", "f", "key", "value", "node", "time_ms"}
    missing: int = 0
    #: Delivery sequences (broadcast anomalies): [{"node", "cells": [{"pos", "text", "hl", "gap"}]}]
    sequences: list[dict] = field(default_factory=list)


MAX_SEQ_NODES, MAX_SEQ_CELLS = 8, 40


def delivery_sequences(anomaly: dict) -> list[dict]:
    """The per-node delivery windows of a broadcast anomaly (``sequences``: node -> ``[[position, message]]``),
    with the ``highlight`` pair marked and a gap wherever positions skip. Anything not of that shape is dropped:
    results.json is data, not trusted markup."""
    seqs = anomaly.get("sequences")
    if not isinstance(seqs, dict):
        return []
    hl = anomaly.get("highlight") if isinstance(anomaly.get("highlight"), list) else []
    hl_text = {text_of(m) for m in hl}
    out = []
    for node, cells in list(seqs.items())[:MAX_SEQ_NODES]:
        if not isinstance(cells, list):
            continue
        row, last = [], -1
        for c in cells[:MAX_SEQ_CELLS]:
            if not (isinstance(c, list) and len(c) == 2 and isinstance(c[0], int)):
                continue
            text = text_of(c[1])
            row.append({"pos": c[0], "text": cut(text, 40), "hl": text in hl_text, "gap": c[0] > last + 1})
            last = c[0]
        out.append({"node": cut(str(node), 40), "cells": row})
    return out


def op_row(op: Op) -> dict:
    return {"index": op.index, "process": op.process, "type": op.type, "f": op.f,
            "key": "" if op.key is None else cut(text_of(op.key), 40),
            "value": "" if op.value is None else short_json(op.value, 120), "node": op.node or "",
            "error": op.error or "", "time_ms": op.time / 1e6}


def anomaly_view(ops: list[Op], anomaly: dict, index: PairIndex | None = None) -> AnomalyView:
    """The ops of one causal/convergence anomaly (``{"type", "ops": [history indices], "explanation"}``)."""
    index = index or PairIndex(ops)
    pairs: dict[int, Pair] = {}
    rows = []
    missing = 0
    idx = anomaly.get("ops") if isinstance(anomaly.get("ops"), list) else []
    for i in idx[:MAX_DRAWN]:
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(ops):
            rows.append(op_row(ops[i]))
            p = index.get(i)
            if p is not None:
                pairs[p.invoke.index] = p
        else:
            missing += 1
    involved = set(pairs)
    drawing = draw(sorted(pairs.values(), key=lambda p: p.invoke.index), involved=involved)
    drawing.omitted = max(0, len(idx) - MAX_DRAWN)
    return AnomalyView(type=str(anomaly.get("type") or "anomaly"), explanation=str(anomaly.get("explanation") or ""),
                       drawing=drawing, rows=rows, missing=missing, sequences=delivery_sequences(anomaly))
