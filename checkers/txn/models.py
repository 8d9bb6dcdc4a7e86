"""Consistency models and the anomalies that rule each out (after Adya and Elle), weakest first.

A model is ruled out by any anomaly in its set. Anomalies in ``ALWAYS`` (a history no database should produce)
rule out every model. ``G2-item`` does not rule out snapshot isolation: write skew (two adjacent rw edges) is
allowed there; ``G-nonadjacent`` (rw edges never adjacent) is not. Snapshot isolation is decided exactly
(:mod:`splitbrain.checkers.txn.nonadjacent`), on data edges only.
"""

from __future__ import annotations

ALWAYS = ("internal", "garbage-read", "duplicate-elements", "incompatible-order")
_CYCLES = ("G0", "G1c", "G-single", "G2-item")

_RC = ALWAYS + ("G0", "G1a", "G1b", "G1c")
_SI = _RC + ("G-single", "G-nonadjacent", "lost-update")
_SER = _RC + ("G-single", "G2-item", "G-nonadjacent", "lost-update")
_SESSION = _SER + tuple(c + "-process" for c in _CYCLES)
_STRICT = _SESSION + tuple(c + "-realtime" for c in _CYCLES) + ("lost-append",)

#: model -> anomalies that rule it out.
MODELS: dict[str, frozenset] = {
    "read-committed": frozenset(_RC),
    "snapshot-isolation": frozenset(_SI),
    "serializable": frozenset(_SER),
    "strong-session-serializable": frozenset(_SESSION),
    "strict-serializable": frozenset(_STRICT),
}
#: The extra orders a model's check needs: "process" and/or "realtime" edges.
NEEDS: dict[str, frozenset] = {
    "read-committed": frozenset(), "snapshot-isolation": frozenset(), "serializable": frozenset(),
    "strong-session-serializable": frozenset({"process"}),
    "strict-serializable": frozenset({"process", "realtime"}),
}

DESCRIPTIONS = {
    "G0": "write cycle: transactions' writes interleave (ww edges only)",
    "G1a": "aborted read: a read saw a write of a transaction that failed",
    "G1b": "intermediate read: a read saw a value its writer later overwrote in the same transaction",
    "G1c": "circular information flow: a cycle of ww and wr edges",
    "G-single": "read skew: a cycle with exactly one anti-dependency (rw) edge",
    "G2-item": "anti-dependency cycle (write skew or worse): two or more rw edges",
    "G-nonadjacent": "a cycle whose rw edges are never adjacent (snapshot isolation forbids it)",
    "lost-update": "two committed transactions read the same version of a key and both wrote it",
    "lost-append": "a committed append that no read shows, though reads of the key began after it committed",
    "internal": "a transaction's read disagrees with its own earlier reads and writes",
    "garbage-read": "a read saw a value no transaction wrote",
    "duplicate-elements": "a list read holds the same element twice",
    "incompatible-order": "two reads of a list are not prefixes of one another",
}
for _c in _CYCLES:
    DESCRIPTIONS[_c + "-process"] = DESCRIPTIONS[_c] + ", closed by process order"
    DESCRIPTIONS[_c + "-realtime"] = DESCRIPTIONS[_c] + ", closed by real-time order"


def model_names() -> list[str]:
    return list(MODELS)
