"""Causal consistency of a key-value (read/write register) history, and the delivery order of replicas.

``check_causal`` is for *differentiated* histories: every value is written at most once (else the result is
``unknown``). Ops: ``write`` (value; per ``key``) and ``read`` (ok value; ``None`` is the initial value); the final
phase's ``final-read`` ops count as reads too, and a ``final-read-all`` (a snapshot of several keys, see
``splitbrain.checkers.convergence.expand_final_reads``) as one read per key. Final reads matter: after the heal a replica has
every write, so a last-writer-wins choice that contradicts causality (a write beaten by one it causally precedes)
shows up there for sure. A session is
a client process; program order (po) is its invocation order. ``ok`` and ``info`` writes count (``info`` may have
happened; it is the last op of its session), ``fail`` writes did not happen, only ``ok`` reads are judged. Read-from
(rf) links a read to the unique write of its value; causal order co = (po ∪ rf)+.

Bad patterns after Bouajjani, Enea, Guerraoui, Hamza, "On verifying causal consistency" (POPL 2017), each found in
polynomial time with per-session vector clocks over co (the co-past of an op is a prefix of every session):

- ``CyclicCO``: co has a cycle.
- ``ThinAirRead``: a read returns a value no (non-failed) write wrote.
- ``WriteCOInitRead``: a read returns the initial value although a write of that key is co-before it.
- ``WriteCORead``: write w1 co-before write w2 (same key) co-before a read that returns w1's value.
- ``WriteHBInitRead`` / ``CyclicHB`` (causal memory, CM): per session, hb is co on the causal past plus, for a read of
  the session that returns w2's value, w1 -> w2 for every other write w1 of the key hb-before that read (fixpoint);
  bad if a session's read returns the initial value with a write of the key hb-before it, or if hb is cyclic.
- ``CyclicCF`` (causal convergence, CCv): w1 -> w2 when w1 is co-before a read of w2's value (same key); bad if
  that together with co is cyclic.

Models: ``CC`` = CyclicCO, ThinAirRead, WriteCOInitRead, WriteCORead; ``CM`` = CC + WriteHBInitRead + CyclicHB;
``CCv`` = CC + CyclicCF. ``valid`` answers for ``model`` (default ``CC``); ``models`` gives all three; anomalies of
the other models are listed under ``other_anomalies``.

Session guarantees (Terry et al.), each reported separately; a read violates one if it returns the initial value
although a *required* write of its key exists, or returns a write strictly co-before a required write:
read-your-writes (required: the session's last write of the key), monotonic-reads (the writes its earlier reads of the
key returned), monotonic-writes (for each write its earlier reads returned, the writer session's last write of the
key before it), writes-follow-reads (for each such write, what the writer session's last read of the key before it
returned). They are implied by CC.

``check_delivery_order`` (a second opinion: it needs the system's own logs, which a user's system may not offer;
its result says so in ``second_opinion``) takes each replica's delivery log (node -> [{"id", "origin", "seq"?,
"vc"}] in delivery order; ``vc[origin]`` is the update's own sequence number) and reports every delivery that came
before an update it depends on (happens-before by vector clock), duplicates, and per-origin gaps.

Each anomaly: ``{"type", "ops": [invoke indices], "explanation": one sentence, ...}``. Where the anomaly rests on
one op being causally before another (WriteCOInitRead, WriteCORead, each session guarantee) it also carries
``chain``: the program-order and read-from path that makes it so, one entry per session it passes through
(``{"index", "process", "node", "f", "key", "value", "via": "rf" | "po"}``; who wrote, who read it, what that
session did next), spelled out in the explanation too. Past ``time_limit`` seconds
the verdict is ``"unknown"``, never ``true``. Nothing here mutates the history.
"""

from __future__ import annotations

import bisect
import json
import time as _time
from typing import Any, Sequence

from splitbrain.checkers.convergence import expand_final_reads
from splitbrain.history.ops import FAIL, OK, Op, pair_ops
from splitbrain.history.values import json_key as _c
from splitbrain.history.verdict import UNKNOWN

INIT = None
MODELS = ("CC", "CM", "CCv")
_CC = ("CyclicCO", "ThinAirRead", "WriteCOInitRead", "WriteCORead")
_PATTERN_MODELS = {**{p: list(MODELS) for p in _CC}, "WriteHBInitRead": ["CM"], "CyclicHB": ["CM"],
                   "CyclicCF": ["CCv"]}
GUARANTEES = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads")
_MAX_PER_TYPE = 100
CHAIN_LIMIT = 20   # anomalies per type that get their causal chain spelled out


class _Timeout(Exception):
    pass


class _Hist:
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
            self.ops.append({"kind": kind, "key": _c(p.invoke.key), "value": value, "index": p.invoke.index,
                             "session": s, "pos": len(self.sessions[s]), "process": p.invoke.process,
                             "node": p.invoke.node})
        self.failed_writes = {(_c(p.invoke.key), _c(p.invoke.value)): p.invoke.index
                              for p in pairs if p.invoke.f == write_f and p.type == FAIL}
        self.writer: dict[tuple, int] = {}
        self.duplicate = None
        for oid, o in enumerate(self.ops):
            if o["kind"] == "w":
                k = (o["key"], _c(o["value"]))
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
                    w = self.writer.get((o["key"], _c(o["value"])))
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


def _vectors(h: _Hist, preds: list[list[int]], deadline: float):
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
            raise _Timeout()
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
        return None, _find_cycle(preds, {i for i in range(n) if vc[i] is None})
    return vc, None


def _find_cycle(preds: list[list[int]], nodes: set[int]) -> list[int]:
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


def _co(h: _Hist, vc, a: int, b: int) -> bool:
    """a strictly co-before b."""
    oa = h.ops[a]
    return a != b and vc[b][oa["session"]] >= oa["pos"]


def check_causal(history: Sequence[Op], *, model: str = "CC", read_f: str | tuple[str, ...] = ("read", "final-read"),
                 write_f: str = "write", time_limit: float = 30.0) -> dict:
    """Judge ``history`` (see the module docstring); ``read_f`` names the read op(s)."""
    if model not in MODELS:
        raise ValueError(f"unknown causal model {model!r} (known: {', '.join(MODELS)})")
    deadline = _time.monotonic() + time_limit
    read_fs = (read_f,) if isinstance(read_f, str) else tuple(read_f)
    h = _Hist(expand_final_reads(history), read_fs, write_f)
    base = {"checker": "causal", "model": model, "ops": len(h.ops), "sessions": len(h.sessions)}
    if h.duplicate is not None:
        a, b = h.duplicate
        return {**base, "valid": UNKNOWN, "anomalies": [],
                "error": f"value {_c(h.ops[b]['value'])} is written twice (ops {h.ops[a]['index']} and "
                         f"{h.ops[b]['index']}): the causal checker needs every written value to be unique"}
    found: list[dict] = []
    status = {m: True for m in MODELS}
    guarantees: dict[str, Any] = {g: {"valid": True, "count": 0} for g in GUARANTEES}
    try:
        vc = _cc(h, found, deadline)
        if vc is None:
            for g in GUARANTEES:
                guarantees[g] = {"valid": UNKNOWN, "count": 0, "error": "causal order is cyclic"}
            for m in ("CM", "CCv"):
                status[m] = False
        else:
            _sessions(h, vc, found, guarantees, deadline)
            for m, fn in (("CCv", _ccv), ("CM", _cm)):
                try:
                    fn(h, vc, found, deadline)
                except _Timeout:
                    status[m] = UNKNOWN
    except _Timeout:
        return {**base, "valid": UNKNOWN, "anomalies": found[:_MAX_PER_TYPE],
                "error": f"time limit of {time_limit} s reached"}
    counts: dict[str, int] = {}
    for a in found:
        counts[a["type"]] = counts.get(a["type"], 0) + 1
        for m in _PATTERN_MODELS.get(a["type"], MODELS):
            status[m] = False
    for m in MODELS:  # CM and CCv include every CC pattern
        if status["CC"] is False:
            status[m] = False
    mine = [a for a in found if model in _PATTERN_MODELS.get(a["type"], MODELS)]
    other = [a for a in found if a not in mine]
    valid = status[model]
    if valid is True and any(g["valid"] is False for g in guarantees.values()):
        valid = False
    out = {**base, "valid": valid, "models": status, "anomaly_counts": counts,
           "anomalies": _cap(mine), "other_anomalies": _cap(other), "session_guarantees": guarantees}
    return out


def _cap(anoms: list[dict]) -> list[dict]:
    seen: dict[str, int] = {}
    out = []
    for a in anoms:
        seen[a["type"]] = seen.get(a["type"], 0) + 1
        if seen[a["type"]] <= _MAX_PER_TYPE:
            out.append(a)
    return out


def _desc(h: _Hist, oid: int) -> str:
    o = h.ops[oid]
    key = "" if o["key"] == "null" else f" {o['key']}"
    verb = "write" if o["kind"] == "w" else "read"
    return f"op {o['index']} ({verb}{key} {_c(o['value'])} by process {o['process']})"


def _anom(h: _Hist, typ: str, oids: list[int], explanation: str, chain: list[dict] | None = None) -> dict:
    a = {"type": typ, "ops": [h.ops[i]["index"] for i in oids], "explanation": explanation}
    if chain:
        a["chain"] = chain
        a["explanation"] = explanation + " How: " + _chain_text(chain) + "."
    return a


def _chain_for(h: _Hist, vc, typ: str, src: int, dst: int) -> list[dict] | None:
    return _chain(h, vc, src, dst, h.chains_made.setdefault(typ, {}))


def _chain(h: _Hist, vc, src: int, dst: int, counter: dict) -> list[dict] | None:
    """The ops that make ``src`` causally before ``dst``: a path of program-order and read-from edges, one entry
    per session it passes through (where the session enters the chain, and where it leaves it). Each entry:
    ``{"index", "process" (the session), "node", "f", "key", "value", "via"}``, ``via`` being how the chain reached
    it ("rf": it read the previous entry's write; "po": the same session did it later; absent for the first).

    Backward search from ``dst`` over ops that ``src`` is causally before (the co vectors bound it), each session
    scanned at most once downwards, so it costs O(ops). Only the first ``CHAIN_LIMIT`` anomalies of each type get
    one (``counter`` counts them), which keeps a history with thousands of anomalies cheap."""
    if counter.get("n", 0) >= CHAIN_LIMIT:
        return None
    counter["n"] = counter.get("n", 0) + 1
    s_src, p_src = h.ops[src]["session"], h.ops[src]["pos"]

    def after_src(y: int) -> bool:
        return y == src or vc[y][s_src] >= p_src

    nxt: dict[int, tuple[int, str]] = {}   # op -> (the op after it on the path to dst, edge kind)
    scanned: set[int] = set()
    queue = [dst]
    found = False
    k = 0
    while k < len(queue) and not found:
        x = queue[k]
        k += 1
        w = h.src.get(x)
        if w is not None and w not in nxt and after_src(w):
            nxt[w] = (x, "rf")
            queue.append(w)
            found = w == src
        sess = h.sessions[h.ops[x]["session"]]
        i = h.ops[x]["pos"] - 2      # the op before x in its session
        while i >= 0 and not found:
            y = sess[i]
            if y in scanned or not after_src(y):
                break
            scanned.add(y)
            nxt.setdefault(y, (x, "po"))
            if y == src:
                found = True
                break
            w = h.src.get(y)
            if w is not None and w not in nxt and after_src(w):
                nxt[w] = (y, "rf")
                queue.append(w)
                found = w == src
            i -= 1
    if not found:
        return None
    path, vias = [src], [None]
    while path[-1] != dst:
        y, kind = nxt[path[-1]]
        path.append(y)
        vias.append(kind)
    keep = [i for i in range(len(path))
            if i in (0, len(path) - 1) or vias[i] == "rf" or (i + 1 < len(path) and vias[i + 1] == "rf")]
    out = []
    for i in keep:
        o = h.ops[path[i]]
        e = {"index": o["index"], "process": o["process"],
             "f": "write" if o["kind"] == "w" else "read", "key": json.loads(o["key"]), "value": o["value"]}
        if o["node"] is not None:
            e["node"] = o["node"]
        if out:
            e["via"] = vias[i] if vias[i] == "rf" else "po"
        out.append(e)
    return out


def _chain_text(chain: list[dict]) -> str:
    """``process 0 on n1 wrote "x" 1 (op 3), process 4 on n2 read it (op 9), then wrote "y" 1 (op 12), ...``"""
    parts = []
    for e in chain:
        who = f"process {e['process']}" + (f" on {e['node']}" if e.get("node") else "")
        key = "" if e["key"] is None else f" {_c(e['key'])}"
        if e.get("via") == "rf":
            parts.append(f"{who} read it (op {e['index']})")
            continue
        what = f"wrote{key} {_c(e['value'])}" if e["f"] == "write" else f"read{key} -> {_c(e['value'])}"
        parts.append(f"{'then ' + what if e.get('via') == 'po' else who + ' ' + what} (op {e['index']})")
    return ", ".join(parts)


def _cc(h: _Hist, found: list[dict], deadline: float):
    """The CC patterns; returns the co vectors, or None if co is cyclic."""
    for r in h.thin_air:
        k = (h.ops[r]["key"], _c(h.ops[r]["value"]))
        why = (f"only the failed write op {h.failed_writes[k]} wrote it" if k in h.failed_writes
               else "no write wrote it")
        found.append(_anom(h, "ThinAirRead", [r], f"{_desc(h, r)} returned a value that {why}."))
    preds = h.edges()
    vc, cycle = _vectors(h, preds, deadline)
    if cycle is not None:
        found.append(_anom(h, "CyclicCO", cycle,
                           "These ops form a cycle of program order and read-from edges, so no causal order "
                           "exists: " + " -> ".join(_desc(h, i) for i in cycle) + "."))
        return None
    for r, w1 in h.src.items():
        if _time.monotonic() > deadline:
            raise _Timeout()
        key = h.ops[r]["key"]
        for s in range(len(h.sessions)):
            w2 = h.last_write_upto(s, key, vc[r][s])
            if w2 is None:
                continue
            if w1 is None:
                found.append(_anom(h, "WriteCOInitRead", [w2, r],
                                   f"{_desc(h, r)} returned the initial value although {_desc(h, w2)} is "
                                   "causally before it.", _chain_for(h, vc, "WriteCOInitRead", w2, r)))
                break
            if w2 != w1 and _co(h, vc, w1, w2):
                found.append(_anom(h, "WriteCORead", [w1, w2, r],
                                   f"{_desc(h, r)} returned the value of {_desc(h, w1)}, which the causally later "
                                   f"{_desc(h, w2)} had overwritten before the read.",
                                   _chain_for(h, vc, "WriteCORead", w2, r)))
                break
    return vc


def _stale(h: _Hist, vc, r: int, required: int) -> bool:
    """Read r returns the initial value or a write strictly co-before the write ``required``."""
    w = h.src.get(r)
    return w is None or _co(h, vc, w, required)


def _sessions(h: _Hist, vc, found: list[dict], guarantees: dict, deadline: float) -> None:
    read_pos: dict[tuple[int, str], list[int]] = {}   # (session, key) -> positions of its reads (for WFR)
    read_src: dict[tuple[int, str], list] = {}        # ... and the writes they returned
    for oid, o in enumerate(h.ops):
        if o["kind"] == "r" and oid in h.src:
            read_pos.setdefault((o["session"], o["key"]), []).append(o["pos"])
            read_src.setdefault((o["session"], o["key"]), []).append(h.src[oid])
    for s, sess in enumerate(h.sessions):
        if _time.monotonic() > deadline:
            raise _Timeout()
        last_write: dict[str, int] = {}
        read_so_far: dict[str, list[int]] = {}   # key -> writes returned by this session's reads
        observed: dict[int, int] = {}            # writer session -> highest pos of its writes we read
        for oid in sess:
            o = h.ops[oid]
            key = o["key"]
            if o["kind"] == "w":
                last_write[key] = oid
                continue
            if oid not in h.src:
                continue  # thin-air read: reported above
            checks = []
            if key in last_write:
                checks.append(("read-your-writes", last_write[key], "its own earlier"))
            for w in read_so_far.get(key, ()):
                checks.append(("monotonic-reads", w, "the value its earlier read returned,"))
            for t, pos in observed.items():
                w1 = h.last_write_upto(t, key, pos - 1)
                if w1 is not None:
                    checks.append(("monotonic-writes", w1, "the write that precedes, in its session, a write "
                                                           "this session already read:"))
                i = bisect.bisect_left(read_pos.get((t, key), ()), pos)
                if i and read_src[(t, key)][i - 1] is not None:
                    checks.append(("writes-follow-reads", read_src[(t, key)][i - 1], "what the writer of a write this "
                                                                       "session already read had itself read,"))
            for g, req, what in checks:
                if h.src[oid] != req and _stale(h, vc, oid, req):
                    guarantees[g]["valid"] = False
                    guarantees[g]["count"] += 1
                    got = "the initial value" if h.src[oid] is None else "an older value"
                    found.append(_anom(h, g, [req, oid], f"{_desc(h, oid)} returned {got}, missing {what} "
                                                         f"{_desc(h, req)}.", _chain_for(h, vc, g, req, oid)))
                    break
            w = h.src[oid]
            if w is not None:
                read_so_far.setdefault(key, []).append(w)
                t = h.ops[w]["session"]
                observed[t] = max(observed.get(t, 0), h.ops[w]["pos"])


def _ccv(h: _Hist, vc, found: list[dict], deadline: float) -> None:
    extra: dict[int, list[int]] = {}
    for r, w2 in h.src.items():
        if w2 is None:
            continue
        if _time.monotonic() > deadline:
            raise _Timeout()
        key = h.ops[r]["key"]
        for s in range(len(h.sessions)):
            w1 = h.last_write_upto(s, key, vc[r][s])
            if w1 is not None and w1 != w2 and not _co(h, vc, w1, w2):
                extra.setdefault(w2, []).append(w1)
    _, cycle = _vectors(h, h.edges(extra), deadline)
    if cycle is not None:
        found.append(_anom(h, "CyclicCF", cycle,
                           "No single order of writes can explain these reads (causal order plus 'w1 was "
                           "visible to a read that chose w2' is cyclic): " + " -> ".join(_desc(h, i) for i in cycle)
                           + "."))


def _cm(h: _Hist, vc, found: list[dict], deadline: float) -> None:
    for sess in h.sessions:
        reads = [oid for oid in sess if h.ops[oid]["kind"] == "r" and oid in h.src]
        extra: dict[int, list[int]] = {}
        have: set[tuple[int, int]] = set()
        hb = vc
        while hb is not None:  # fixpoint: each round's new write->write edges may reveal more
            changed = False
            for r in reads:
                w2 = h.src[r]
                if w2 is None:
                    continue
                key = h.ops[r]["key"]
                for s in range(len(h.sessions)):
                    w1 = h.last_write_upto(s, key, hb[r][s])
                    if w1 is not None and w1 != w2 and (w1, w2) not in have and not _co(h, hb, w1, w2):
                        have.add((w1, w2))
                        extra.setdefault(w2, []).append(w1)
                        changed = True
            if not changed:
                break
            hb, cycle = _vectors(h, h.edges(extra), deadline)
            if cycle is not None:
                found.append(_anom(h, "CyclicHB", cycle,
                                   f"Process {h.ops[sess[0]]['process']}'s reads force these ops into a cycle "
                                   "(each write must precede the write a read chose over it): "
                                   + " -> ".join(_desc(h, i) for i in cycle) + "."))
        if hb is None:
            continue
        for r in reads:
            if h.src[r] is not None:
                continue
            key = h.ops[r]["key"]
            for s in range(len(h.sessions)):
                w = h.last_write_upto(s, key, hb[r][s])
                if w is not None:
                    found.append(_anom(h, "WriteHBInitRead", [w, r],
                                       f"{_desc(h, r)} returned the initial value, but the session's own reads "
                                       f"force {_desc(h, w)} to come before it."))
                    break


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
                        "anomalies": anomalies[:_MAX_PER_TYPE],
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
                if counts[problem[0]] <= _MAX_PER_TYPE:
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
