"""What the two dependency inferences (list-append, rw-register) share: anomaly bookkeeping and value formatting."""

from __future__ import annotations

from splitbrain.checkers.txn.txns import Txn

#: Evidence kept per anomaly type; the count is always exact.
MAX_EXAMPLES = 20


#: Lists longer than this are shown by their ends in explanations.
SHOW_ELEMENTS = 8


def fmt(v) -> str:
    """A value as the explanations show it: lists in brackets (a long one by its ends), nil for null."""
    if isinstance(v, list):
        if len(v) > SHOW_ELEMENTS:
            half = SHOW_ELEMENTS // 2
            return ("[" + " ".join(fmt(x) for x in v[:half]) + " ... " + " ".join(fmt(x) for x in v[-half:]) +
                    f"] ({len(v)} elements)")
        return "[" + " ".join(fmt(x) for x in v) + "]"
    return "nil" if v is None else str(v)


def fmt_key(k) -> str:
    """A key as the explanations show it: a name as it is, anything else as ``key 3``."""
    return k if isinstance(k, str) else f"key {fmt(k)}"


class Inference:
    """Run once over the transactions in ``__init__``: fills ``adj`` with ww/wr/rw edges, ``anomalies`` (type ->
    up to MAX_EXAMPLES examples, each with an ``explanation`` sentence) and ``counts``; ``problems`` lists what
    makes the history uncheckable (non-unique writes). ``explain(a, b, kind)`` says in one sentence why an edge
    exists, or None."""

    kind = ""

    def __init__(self, txns: list[Txn], adj: list[dict]):
        self.txns = txns
        self.adj = adj
        self.anomalies: dict[str, list[dict]] = {}
        self.counts: dict[str, int] = {}
        self.problems: list[str] = []

    def _note(self, kind: str, **evidence) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        ex = self.anomalies.setdefault(kind, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append({"type": kind, **evidence})

    def _name(self, tid: int) -> str:
        return self.txns[tid].name

    def _not_unique(self, what: str, v, k, first: int, second: Txn) -> None:
        if len(self.problems) < MAX_EXAMPLES:
            self.problems.append(f"{fmt(v)} was {what} {fmt_key(k)} by both {self._name(first)} and {second.name} "
                                 f"(values must be unique per key)")

    def explain(self, a: int, b: int, kind: int) -> str | None:
        raise NotImplementedError
