"""The causal order of a read/write history: sessions (one per client process, in program order), read-from
resolved to the unique write of each value, and per-op vector clocks over co = (po ∪ rf)+ (the co-past of an op is
a prefix of every session, so a vector of per-session positions says exactly which ops are causally before it).

Pure: nothing here mutates the history or judges it (:mod:`splitbrain.checkers.causal` does).
"""

from __future__ import annotations

import bisect
import time as _time
from typing import Any, Sequence

from splitbrain.history.ops import FAIL, OK, Op, pair_ops
from splitbrain.history.values import json_key as canonical  # a key's or a value's identity

#: The value a read of a never-written key returns.
INIT = None


class OutOfTime(Exception):
    """The checker's time limit ran out (its verdict is then unknown)."""


class SessionHistory:
    """The history as sessions of reads and writes, with rf resolved. Op ids are positions in ``ops``."""

    def __init__(self, history: Sequence[Op], read_fs: tuple[str, ...], write_f: str):
        self.ops: list[dict] = []
        self.sessions: list[list[int]] = []
        sess_of: dict[Any, int] = {}
        pairs = pair_ops(history)
        for p in pairs:
            f = p.invoke.f
            if f == write_f and p.type != FAIL:
                kind, value = "w", p.invoke.value
            elif f in read_fs and p.type == OK:
                kind, value = "r", p.complete.value
            else:
                continue
            s = sess_of.setdefault(p.invoke.process, len(sess_of))
            if s == len(self.sessions):
                self.sessions.append([])
            oid = len(self.ops)
            self.sessions[s].append(oid)
            self.ops.append({"kind": kind, "key": canonical(p.invoke.key), "value": value, "index": p.invoke.index,
                             "session": s, "pos": len(self.sessions[s]), "process": p.invoke.process,
                             "node": p.invoke.node})
        self.failed_writes = {(canonical(p.invoke.key), canonical(p.invoke.value)): p.invoke.index
                              for p in pairs if p.invoke.f == write_f and p.type == FAIL}
        self.writer: dict[tuple, int] = {}
        self.duplicate = None
        for oid, o in enumerate(self.ops):
            if o["kind"] == "w":
                k = (o["key"], canonical(o["value"]))
                if k in self.writer:
                    self.duplicate = (self.writer[k], oid)
                self.writer[k] = oid
        self.chains_made: dict[str, dict] = {}  # anomaly type -> {"n": chains spelled out so far}
        self.src: dict[int, int | None] = {}   # read -> write it read from (None: initial value)
        self.thin_air: list[int] = []
        for oid, o in enumerate(self.ops):
            if o["kind"] == "r":
                if o["value"] is INIT:
                    self.src[oid] = None
                else:
                    w = self.writer.get((o["key"], canonical(o["value"])))
                    if w is None:
                        self.thin_air.append(oid)
                    else:
                        self.src[oid] = w
        # (session, key) -> positions / op ids of its writes, in po order
        self.wpos: dict[tuple[int, str], list[int]] = {}
        self.wids: dict[tuple[int, str], list[int]] = {}
        for oid, o in enumerate(self.ops):
            if o["kind"] == "w":
                self.wpos.setdefault((o["session"], o["key"]), []).append(o["pos"])
                self.wids.setdefault((o["session"], o["key"]), []).append(oid)

    def last_write_upto(self, s: int, key: str, pos: int) -> int | None:
        """The last write of ``key`` in session ``s`` at position <= ``pos``."""
        ps = self.wpos.get((s, key))
        if not ps:
            return None
        i = bisect.bisect_right(ps, pos)
        return self.wids[(s, key)][i - 1] if i else None

    def edges(self, extra: dict[int, list[int]] | None = None) -> list[list[int]]:
        """Predecessors of each op: po predecessor, rf source, and ``extra`` ones."""
        preds: list[list[int]] = [[] for _ in self.ops]
        for sess in self.sessions:
            for a, b in zip(sess, sess[1:]):
                preds[b].append(a)
        for r, w in self.src.items():
            if w is not None:
                preds[r].append(w)
        for b, As in (extra or {}).items():
            preds[b].extend(As)
        return preds


def causal_vectors(h: SessionHistory, preds: list[list[int]], deadline: float):
    """Per-op vector (per session: how many of its ops are <= the op in the order the edges generate), or a cycle."""
    n, P = len(h.ops), len(h.sessions)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for b, As in enumerate(preds):
        for a in As:
            succ[a].append(b)
            indeg[b] += 1
    order = [i for i in range(n) if indeg[i] == 0]
    vc: list[list[int] | None] = [None] * n
    k = 0
    while k < len(order):
        if k % 2048 == 0 and _time.monotonic() > deadline:
            raise OutOfTime()
        b = order[k]
        k += 1
        v = [0] * P
        for a in preds[b]:
            va = vc[a]
            v = [x if x >= y else y for x, y in zip(v, va)]
        o = h.ops[b]
        v[o["session"]] = o["pos"]
        vc[b] = v
        for c in succ[b]:
            indeg[c] -= 1
            if indeg[c] == 0:
                order.append(c)
    if len(order) < n:
        return None, find_cycle(preds, {i for i in range(n) if vc[i] is None})
    return vc, None


def find_cycle(preds: list[list[int]], nodes: set[int]) -> list[int]:
    """One cycle among ``nodes`` (each has a predecessor in ``nodes``): walk predecessors until one repeats."""
    start = next(iter(nodes))
    seen: dict[int, int] = {}
    path: list[int] = []
    x = start
    while x not in seen:
        seen[x] = len(path)
        path.append(x)
        x = next(a for a in preds[x] if a in nodes)
    cyc = path[seen[x]:]
    cyc.reverse()  # predecessors walked backwards: reverse to get the order of the edges
    return cyc


def causally_before(h: SessionHistory, vc, a: int, b: int) -> bool:
    """a strictly co-before b."""
    oa = h.ops[a]
    return a != b and vc[b][oa["session"]] >= oa["pos"]
