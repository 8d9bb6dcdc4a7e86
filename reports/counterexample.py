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

from splitbrain.history.ops import INFO, OK, Op, Pair, pair_ops

from splitbrain.reports.safe_json import cut, short_json, text_of

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


def short_label(pair: Pair, limit: int = LABEL_CHARS) -> str:
    """``→ 2`` for a read of 2, ``w 3`` for a write of 3: what a bar too narrow for :func:`describe` shows, so that
    its value (what the op is about) survives rather than its name."""
    inv, done = pair.invoke, pair.complete
    if done is not None and done.type == OK and _returns(pair):
        return "\u2192 " + short_json(done.value, limit)
    if inv.value is not None:
        return inv.f[:1] + " " + short_json(inv.value, limit)
    return inv.f


def describe(pair: Pair, limit: int = LABEL_CHARS, *, with_key: bool = False) -> str:
    """``write 3``, ``read → 3``, ``cas [1,2] ✗``: an op for people (values cut to ``limit`` characters);
    ``with_key``: ``write x 3``, for drawings of ops on several keys."""
    inv, done = pair.invoke, pair.complete
    text = inv.f
    if with_key and inv.key is not None:
        text += " " + (cut(inv.key, limit) if isinstance(inv.key, str) else short_json(inv.key, limit))
    if inv.value is not None:
        text += " " + short_json(inv.value, limit)
    if done is not None and done.type == OK and _returns(pair):
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
    kind: str             # "linearized" | "stuck" | "involved" | "chain" | "other"
    type: str             # ok | fail | info | pending
    order: int | None = None   # 1-based position in the linearized prefix (or in a causal chain)


@dataclass
class Drawing:
    width: float
    height: float
    lanes: list[dict]     # {"label", "y"}
    bars: list[Bar]
    omitted: int = 0      # ops left out to keep the drawing readable
    links: list[dict] = field(default_factory=list)   # arrows between bars: {"x1", "y1", "x2", "y2", "kind"}
    stuck_word: str = "could not be placed"           # what the marked (✗) op did, for its hover text


def draw(pairs: list[Pair], *, order: dict[int, int] | None = None, stuck: int | None = None,
         involved: set[int] | None = None, chain: list[tuple[int, str | None]] | None = None) -> Drawing:
    """Lay out ``pairs`` as bars: one lane per process, x = rank of the op's events in time (so overlap, which is
    all linearizability cares about, is visible however far apart the ops were in seconds). ``chain`` (invoke
    indices in causal order, each with how it was reached: "rf", "po" or None) numbers those bars and links each to
    the next with an arrow. A bar too narrow for its description shows its value (:func:`short_label`)."""
    order = order or {}
    involved = involved or set()
    chain = chain or []
    chain_at = {i: n for n, (i, _how) in enumerate(chain, start=1)}
    several_keys = len({text_of(p.invoke.key) for p in pairs}) > 1
    nodes: dict = {}
    for p in pairs:
        n = p.invoke.node
        nodes[p.invoke.process] = n if nodes.get(p.invoke.process, n) == n else None
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
        kind = ("stuck" if inv.index == stuck else "chain" if inv.index in chain_at
                else "linearized" if inv.index in order else "involved" if inv.index in involved else "other")
        full = f"history index {inv.index}, process {inv.process}: {describe(p, 200)}"
        if inv.node:
            full += f", node {inv.node}"
        if done is not None and done.error:
            full += f", error {cut(str(done.error), 80)}"
        x2 = max(x2, x1 + 8)
        num = None if kind == "stuck" else order.get(inv.index) or chain_at.get(inv.index)
        room = max(2, int((x2 - x1 - (20 if num or kind == "stuck" else 5) - 3) / CHAR_W))
        label = describe(p, with_key=several_keys)
        if len(label) > room:
            label = short_label(p)
        label = cut(label, room)
        bars.append(Bar(inv.index, lane, x1, x2, TOP + lane * LANE_H + (LANE_H - BAR_H) / 2, label, full, kind,
                        "pending" if done is None else done.type, num))
    lanes = [{"label": _lane_label(proc, nodes.get(proc)), "y": TOP + i * LANE_H + LANE_H / 2}
             for i, proc in enumerate(procs)]
    by_index = {b.index: b for b in bars}
    links = []
    for (a, _), (b, how) in zip(chain, chain[1:]):
        ba, bb = by_index.get(a), by_index.get(b)
        if ba is not None and bb is not None:
            links.append(_arrow(ba, bb, how or "po"))
    return Drawing(width=LEFT + (n_slots + 1) * step + 10, height=TOP + len(procs) * LANE_H + 10, lanes=lanes,
                   bars=bars, links=links)


def _arrow(a: Bar, b: Bar, kind: str) -> dict:
    """A link from the middle of bar ``a``'s right end to bar ``b``'s left end (or from below/above it when the
    bars overlap in time), with its head as a triangle (no SVG markers: their ids would clash between drawings)."""
    x1, y1 = a.x2 - 4, a.y + BAR_H / 2
    x2, y2 = max(b.x1 + 4, x1 + 6), b.y + (BAR_H / 2 if b.y == a.y else (0 if b.y > a.y else BAR_H))
    dx, dy = x2 - x1, y2 - y1
    length = max((dx * dx + dy * dy) ** 0.5, 1.0)
    ux, uy = dx / length, dy / length
    head = [(x2, y2), (x2 - 7 * ux + 3.5 * uy, y2 - 7 * uy - 3.5 * ux),
            (x2 - 7 * ux - 3.5 * uy, y2 - 7 * uy + 3.5 * ux)]
    return {"x1": round(x1, 1), "y1": round(y1, 1), "x2": round(x2, 1), "y2": round(y2, 1), "kind": kind,
            "head": " ".join(f"{x:.1f},{y:.1f}" for x, y in head)}


def _fact(v: Any) -> str:
    """A fact of an anomaly as text: strings as they are, lists of plain values joined, anything else as JSON."""
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v):
        return ", ".join(str(x) for x in v)
    return text_of(v)


def _lane_label(proc, node: str | None) -> str:
    """``p3 n1``: the process, and the node it talked to when all its drawn ops went to one."""
    text = f"p{proc}" if isinstance(proc, int) else str(proc)
    return f"{text} {cut(str(node), 6)}" if node else text


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
    rows: list[dict]             # the ops: {"index", "process", "type", "f", "key", "value", "node", "time_ms",
    #                              "step", "how"} (step and how: its place in the causal chain, if any)
    missing: int = 0
    facts: list[tuple[str, str]] = field(default_factory=list)   # what else the anomaly names (node, updates, ...)
    has_chain: bool = False
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


def op_row(op: Op, pair: Pair | None = None) -> dict:
    """A table row for history event ``op``; with its ``pair``, the op as a whole: its outcome as the type, and
    what it returned beside what it was given (``3 → 4``, ``→ null`` for a read of the initial value)."""
    row = {"index": op.index, "process": op.process, "type": op.type, "f": op.f,
           "key": "" if op.key is None else cut(text_of(op.key), 40),
           "value": "" if op.value is None else short_json(op.value, 120), "node": op.node or "",
           "error": op.error or "", "time_ms": op.time / 1e6}
    if pair is not None and pair.invoke.index == op.index:
        done = pair.complete
        row["type"] = "pending" if done is None else done.type
        if done is not None and done.type == OK and _returns(pair):
            row["value"] = (row["value"] + " " if row["value"] else "") + "\u2192 " + short_json(done.value, 120)
        if done is not None and done.error:
            row["error"] = cut(str(done.error), 80)
    return row


def _returns(pair: Pair) -> bool:
    """Does the op's ok completion carry a result worth showing (a read's, even the initial null)?"""
    inv, done = pair.invoke, pair.complete
    return done.value != inv.value or (inv.value is None and "read" in inv.f)


#: Anomaly fields shown as ops (or as the text) rather than listed as facts.
_DRAWN_FIELDS = frozenset({"type", "ops", "explanation", "chain"})
_FACT_LABELS = {"position": "position in its delivery log"}
_HOW = {None: "the write it starts from", "rf": "read the value the step before wrote", "po": "same process, later"}


def _is_index(i: Any, n: int) -> bool:
    return isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n


def anomaly_view(ops: list[Op], anomaly: dict, index: PairIndex | None = None) -> AnomalyView:
    """One causal/convergence/delivery anomaly (``{"type", "ops": [history indices], "explanation", "chain"?,
    ...}``): its ops drawn in lanes, with the causal ``chain`` (checkers/causal.py) numbered in order and linked by
    arrows, the op that broke the rule marked; and every other field it has (a delivery-order anomaly has no client
    ops, only ``node``, ``updates`` and ``position``) listed as facts."""
    index = index or PairIndex(ops)
    pairs: dict[int, Pair] = {}
    rows = []
    missing = 0
    chain = [e for e in anomaly.get("chain") or [] if isinstance(e, dict)] if isinstance(
        anomaly.get("chain"), list) else []
    idx = anomaly.get("ops") if isinstance(anomaly.get("ops"), list) else []
    steps: list[tuple[int, str | None]] = []
    seen: set[int] = set()
    for n, e in enumerate(chain[:MAX_DRAWN], start=1):
        i = e.get("index")
        if not _is_index(i, len(ops)):
            missing += 1
            continue
        how = e.get("via") if e.get("via") in ("rf", "po") else None
        steps.append((i, how))
        seen.add(i)
        p = index.get(i)
        rows.append({**op_row(ops[i], p), "step": n, "how": _HOW[how]})
        if p is not None:
            pairs[p.invoke.index] = p
    for i in idx[:MAX_DRAWN]:
        if not _is_index(i, len(ops)):
            missing += 1
            continue
        p = index.get(i)
        if p is not None:
            pairs[p.invoke.index] = p
        if i not in seen:
            rows.append({**op_row(ops[i], p), "step": None, "how": ""})
    involved = set(pairs)
    # The op that broke the rule is the anomaly's last op (the read, for every causal pattern with a chain).
    bad = idx[-1] if chain and idx and _is_index(idx[-1], len(ops)) else None
    drawing = draw(sorted(pairs.values(), key=lambda p: p.invoke.index), involved=involved, chain=steps,
                   stuck=bad)
    drawing.omitted = max(0, len(idx) - MAX_DRAWN) + max(0, len(chain) - MAX_DRAWN)
    drawing.stuck_word = "the op that broke the rule"
    facts = [(_FACT_LABELS.get(k, str(k)), cut(_fact(v), 300)) for k, v in anomaly.items()
             if k not in _DRAWN_FIELDS and v is not None and v != [] and v != {}]
    return AnomalyView(type=str(anomaly.get("type") or "anomaly"), explanation=str(anomaly.get("explanation") or ""),
                       drawing=drawing, rows=rows, missing=missing, facts=facts, has_chain=bool(steps),
                       sequences=delivery_sequences(anomaly))
