"""Causal consistency of a key-value (read/write register) history: the verdict and the bad patterns.

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

Each anomaly: ``{"type", "ops": [invoke indices], "explanation": one sentence, ...}``. Where the anomaly rests on
one op being causally before another (WriteCOInitRead, WriteCORead, each session guarantee) it also carries
``chain``: the program-order and read-from path that makes it so, one entry per session it passes through
(``{"index", "process", "node", "f", "key", "value", "via": "rf" | "po"}``; who wrote, who read it, what that
session did next), spelled out in the explanation too. Past ``time_limit`` seconds
the verdict is ``"unknown"``, never ``true``. Nothing here mutates the history.

The parts: :mod:`splitbrain.checkers.causal_order` (the history as sessions, rf, the causal-order vectors),
:mod:`splitbrain.checkers.causal_chain` (how one op came to be causally before another, as evidence), and this module
(the patterns and the verdict). The replicas' own delivery order is judged in
:mod:`splitbrain.checkers.delivery_order`.
"""

from __future__ import annotations

import bisect
import time as _time
from typing import Any, Sequence

from splitbrain.checkers.causal_chain import CHAIN_LIMIT, anomaly, chain_for, describe
from splitbrain.checkers.causal_order import (INIT, OutOfTime, SessionHistory, canonical, causal_vectors,
                                             causally_before)
from splitbrain.checkers.convergence import expand_final_reads
from splitbrain.checkers.delivery_order import check_delivery_order
from splitbrain.history.ops import Op
from splitbrain.history.verdict import UNKNOWN

# Re-exported: the causal checker's public names (callers import them from here).
__all__ = ["CHAIN_LIMIT", "GUARANTEES", "INIT", "MODELS", "check_causal", "check_delivery_order"]

MODELS = ("CC", "CM", "CCv")
CC_PATTERNS = ("CyclicCO", "ThinAirRead", "WriteCOInitRead", "WriteCORead")
#: Pattern -> the models it rules out.
PATTERN_MODELS = {**{p: list(MODELS) for p in CC_PATTERNS}, "WriteHBInitRead": ["CM"], "CyclicHB": ["CM"],
                  "CyclicCF": ["CCv"]}
GUARANTEES = ("read-your-writes", "monotonic-reads", "monotonic-writes", "writes-follow-reads")
MAX_PER_TYPE = 100


def check_causal(history: Sequence[Op], *, model: str = "CC", read_f: str | tuple[str, ...] = ("read", "final-read"),
                 write_f: str = "write", time_limit: float = 30.0) -> dict:
    """Judge ``history`` (see the module docstring); ``read_f`` names the read op(s)."""
    if model not in MODELS:
        raise ValueError(f"unknown causal model {model!r} (known: {', '.join(MODELS)})")
    deadline = _time.monotonic() + time_limit
    read_fs = (read_f,) if isinstance(read_f, str) else tuple(read_f)
    h = SessionHistory(expand_final_reads(history), read_fs, write_f)
    base = {"checker": "causal", "model": model, "ops": len(h.ops), "sessions": len(h.sessions)}
    if h.duplicate is not None:
        a, b = h.duplicate
        return {**base, "valid": UNKNOWN, "anomalies": [],
                "error": f"value {canonical(h.ops[b]['value'])} is written twice (ops {h.ops[a]['index']} and "
                         f"{h.ops[b]['index']}): the causal checker needs every written value to be unique"}
    found: list[dict] = []
    status = {m: True for m in MODELS}
    guarantees: dict[str, Any] = {g: {"valid": True, "count": 0} for g in GUARANTEES}
    try:
        vc = find_cc_patterns(h, found, deadline)
        if vc is None:
            for g in GUARANTEES:
                guarantees[g] = {"valid": UNKNOWN, "count": 0, "error": "causal order is cyclic"}
            for m in ("CM", "CCv"):
                status[m] = False
        else:
            check_session_guarantees(h, vc, found, guarantees, deadline)
            for m, fn in (("CCv", find_cyclic_cf), ("CM", find_cm_patterns)):
                try:
                    fn(h, vc, found, deadline)
                except OutOfTime:
                    status[m] = UNKNOWN
    except OutOfTime:
        return {**base, "valid": UNKNOWN, "anomalies": found[:MAX_PER_TYPE],
                "error": f"time limit of {time_limit} s reached"}
    counts: dict[str, int] = {}
    for a in found:
        counts[a["type"]] = counts.get(a["type"], 0) + 1
        for m in PATTERN_MODELS.get(a["type"], MODELS):
            status[m] = False
    for m in MODELS:  # CM and CCv include every CC pattern
        if status["CC"] is False:
            status[m] = False
    mine = [a for a in found if model in PATTERN_MODELS.get(a["type"], MODELS)]
    other = [a for a in found if a not in mine]
    valid = status[model]
    if valid is True and any(g["valid"] is False for g in guarantees.values()):
        valid = False
    out = {**base, "valid": valid, "models": status, "anomaly_counts": counts,
           "anomalies": cap_per_type(mine), "other_anomalies": cap_per_type(other), "session_guarantees": guarantees}
    return out


def cap_per_type(anoms: list[dict]) -> list[dict]:
    seen: dict[str, int] = {}
    out = []
    for a in anoms:
        seen[a["type"]] = seen.get(a["type"], 0) + 1
        if seen[a["type"]] <= MAX_PER_TYPE:
            out.append(a)
    return out


def find_cc_patterns(h: SessionHistory, found: list[dict], deadline: float):
    """The CC patterns; returns the co vectors, or None if co is cyclic."""
    for r in h.thin_air:
        k = (h.ops[r]["key"], canonical(h.ops[r]["value"]))
        why = (f"only the failed write op {h.failed_writes[k]} wrote it" if k in h.failed_writes
               else "no write wrote it")
        found.append(anomaly(h, "ThinAirRead", [r], f"{describe(h, r)} returned a value that {why}."))
    preds = h.edges()
    vc, cycle = causal_vectors(h, preds, deadline)
    if cycle is not None:
        found.append(anomaly(h, "CyclicCO", cycle,
                           "These ops form a cycle of program order and read-from edges, so no causal order "
                           "exists: " + " -> ".join(describe(h, i) for i in cycle) + "."))
        return None
    for r, w1 in h.src.items():
        if _time.monotonic() > deadline:
            raise OutOfTime()
        key = h.ops[r]["key"]
        for s in range(len(h.sessions)):
            w2 = h.last_write_upto(s, key, vc[r][s])
            if w2 is None:
                continue
            if w1 is None:
                found.append(anomaly(h, "WriteCOInitRead", [w2, r],
                                   f"{describe(h, r)} returned the initial value although {describe(h, w2)} is "
                                   "causally before it.", chain_for(h, vc, "WriteCOInitRead", w2, r)))
                break
            if w2 != w1 and causally_before(h, vc, w1, w2):
                found.append(anomaly(h, "WriteCORead", [w1, w2, r],
                                   f"{describe(h, r)} returned the value of {describe(h, w1)}, which the causally later "
                                   f"{describe(h, w2)} had overwritten before the read.",
                                   chain_for(h, vc, "WriteCORead", w2, r)))
                break
    return vc


def is_stale(h: SessionHistory, vc, r: int, required: int) -> bool:
    """Read r returns the initial value or a write strictly co-before the write ``required``."""
    w = h.src.get(r)
    return w is None or causally_before(h, vc, w, required)


def check_session_guarantees(h: SessionHistory, vc, found: list[dict], guarantees: dict, deadline: float) -> None:
    read_pos: dict[tuple[int, str], list[int]] = {}   # (session, key) -> positions of its reads (for WFR)
    read_src: dict[tuple[int, str], list] = {}        # ... and the writes they returned
    for oid, o in enumerate(h.ops):
        if o["kind"] == "r" and oid in h.src:
            read_pos.setdefault((o["session"], o["key"]), []).append(o["pos"])
            read_src.setdefault((o["session"], o["key"]), []).append(h.src[oid])
    for s, sess in enumerate(h.sessions):
        if _time.monotonic() > deadline:
            raise OutOfTime()
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
                if h.src[oid] != req and is_stale(h, vc, oid, req):
                    guarantees[g]["valid"] = False
                    guarantees[g]["count"] += 1
                    got = "the initial value" if h.src[oid] is None else "an older value"
                    found.append(anomaly(h, g, [req, oid], f"{describe(h, oid)} returned {got}, missing {what} "
                                                         f"{describe(h, req)}.", chain_for(h, vc, g, req, oid)))
                    break
            w = h.src[oid]
            if w is not None:
                read_so_far.setdefault(key, []).append(w)
                t = h.ops[w]["session"]
                observed[t] = max(observed.get(t, 0), h.ops[w]["pos"])


def find_cyclic_cf(h: SessionHistory, vc, found: list[dict], deadline: float) -> None:
    extra: dict[int, list[int]] = {}
    for r, w2 in h.src.items():
        if w2 is None:
            continue
        if _time.monotonic() > deadline:
            raise OutOfTime()
        key = h.ops[r]["key"]
        for s in range(len(h.sessions)):
            w1 = h.last_write_upto(s, key, vc[r][s])
            if w1 is not None and w1 != w2 and not causally_before(h, vc, w1, w2):
                extra.setdefault(w2, []).append(w1)
    _, cycle = causal_vectors(h, h.edges(extra), deadline)
    if cycle is not None:
        found.append(anomaly(h, "CyclicCF", cycle,
                           "No single order of writes can explain these reads (causal order plus 'w1 was "
                           "visible to a read that chose w2' is cyclic): " + " -> ".join(describe(h, i) for i in cycle)
                           + "."))


def find_cm_patterns(h: SessionHistory, vc, found: list[dict], deadline: float) -> None:
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
                    if w1 is not None and w1 != w2 and (w1, w2) not in have and not causally_before(h, hb, w1, w2):
                        have.add((w1, w2))
                        extra.setdefault(w2, []).append(w1)
                        changed = True
            if not changed:
                break
            hb, cycle = causal_vectors(h, h.edges(extra), deadline)
            if cycle is not None:
                found.append(anomaly(h, "CyclicHB", cycle,
                                   f"Process {h.ops[sess[0]]['process']}'s reads force these ops into a cycle "
                                   "(each write must precede the write a read chose over it): "
                                   + " -> ".join(describe(h, i) for i in cycle) + "."))
        if hb is None:
            continue
        for r in reads:
            if h.src[r] is not None:
                continue
            key = h.ops[r]["key"]
            for s in range(len(h.sessions)):
                w = h.last_write_upto(s, key, hb[r][s])
                if w is not None:
                    found.append(anomaly(h, "WriteHBInitRead", [w, r],
                                       f"{describe(h, r)} returned the initial value, but the session's own reads "
                                       f"force {describe(h, w)} to come before it."))
                    break
