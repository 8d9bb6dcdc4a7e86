"""Transactions out of a history: each ``f: "txn"`` invoke paired with its completion.

A transaction op's value is a list of micro-ops (docs/history-format.md): ``["r", k, v]`` (``v`` is ``null`` at
invoke and the value read at completion: a list for list-append keys, a single value for registers),
``["append", k, x]`` and ``["w", k, x]``. An ``ok`` transaction committed with the completion's micro-ops; a
``fail`` one certainly did not commit (its writes must never be seen); an ``info`` one (or an invoke with no
completion) may have committed: its writes count, its reads are unknown.

Transactions get dense ids 0..n-1 in invoke order (the graph's nodes); ``Txn.index`` is the history index shown to
people: the completion's, or the invoke's when there is none.
"""

from __future__ import annotations

from typing import Any, Sequence

from splitbrain.checkers.txn.graph import native_core
from splitbrain.history.ops import FAIL, INFO, INVOKE, OK, Op

TXN = "txn"
READ, APPEND, WRITE = "r", "append", "w"
_MOP_FS = frozenset({READ, APPEND, WRITE})


class TxnFormatError(ValueError):
    """A transaction op whose value is not a list of micro-ops; the message names the op index."""


class Txn:
    """One transaction. ``mops`` are the micro-ops that took effect (the completion's for ``ok``, the invoke's
    otherwise); ``invoke_pos``/``complete_pos`` are history positions (``complete_pos`` is None for ``info``)."""

    __slots__ = ("id", "index", "process", "type", "mops", "invoke_pos", "complete_pos", "node")

    def __init__(self, id: int, index: int, process: Any, type: str, mops: list, invoke_pos: int,
                 complete_pos: int | None, node: Any):
        self.id = id
        self.index = index
        self.process = process
        self.type = type
        self.mops = mops
        self.invoke_pos = invoke_pos
        self.complete_pos = complete_pos
        self.node = node

    @property
    def name(self) -> str:
        return f"T{self.index}"

    def __repr__(self) -> str:
        return f"<{self.name} {self.type} p{self.process} {self.mops!r}>"


def _check_mops(value: Any, index: int) -> list:
    """The value if it is a list; its micro-ops are checked where they are read (see ``bad_mop``), which is cheaper
    than a separate pass."""
    if type(value) is not list:
        raise TxnFormatError(f"op {index}: a txn's value must be a list of micro-ops, got {value!r:.80}")
    return value


def bad_mop(t: "Txn") -> TxnFormatError:
    """The error for the first micro-op of ``t`` that is not one (call when unpacking its micro-ops failed)."""
    for m in t.mops:
        if type(m) is not list or len(m) != 3 or m[0] not in _MOP_FS:
            return TxnFormatError(f"op {t.index}: {m!r:.80} is not a micro-op ([\"r\", k, v], [\"append\", k, x] "
                                  f"or [\"w\", k, x])")
    return TxnFormatError(f"op {t.index}: malformed micro-ops {t.mops!r:.80}")


def collect(history: Sequence[Op], events: list | None = None) -> list[Txn]:
    """The transactions of a history, in invoke order. Non-txn ops (nemesis, anything else) are skipped.

    With ``events``, appends the real-time sequence to it as it goes: a transaction's id at its invoke and ``~id``
    at its ``ok`` completion (what :func:`splitbrain.checkers.txn.orders.add_realtime_edges` sweeps). Raises TxnFormatError
    for a txn value that is not a list.

    Natively (checkers/txn/_txn_native.c ``collect``) when it can: the same transactions, the same events; the
    Python loop runs when the native core is off or gives up (a malformed value: the loop raises the error).
    """
    core = native_core()
    if core is not None:
        txns = core.collect(history, events, Txn, TXN, INVOKE, OK, FAIL, INFO)
        if txns is not None:
            return txns
    return _collect(history, events)


def _collect(history: Sequence[Op], events: list | None) -> list[Txn]:
    """:func:`collect` in Python."""
    txns: list[Txn] = []
    pending: dict[Any, Txn] = {}
    push = txns.append
    pending_pop = pending.pop
    mark = events.append if events is not None else None
    for pos, op in enumerate(history):
        if op.f != TXN:
            continue
        typ = op.type
        if typ == INVOKE:
            value = op.value
            if type(value) is not list:
                _check_mops(value, op.index)
            tid = len(txns)
            t = Txn(tid, op.index, op.process, INFO, value, pos, None, op.node)
            push(t)
            pending[op.process] = t
            if mark is not None:
                mark(tid)
            continue
        t = pending_pop(op.process, None)
        if t is None:
            continue  # a completion without an invoke: the history validator rejects those
        t.index = op.index
        if typ == OK:
            t.type = OK
            t.complete_pos = pos
            value = op.value
            if value is not None:
                if type(value) is not list:
                    _check_mops(value, op.index)
                t.mops = value
            if mark is not None:
                mark(~t.id)
        elif typ == FAIL:
            t.type = FAIL
            t.complete_pos = pos
        # an info completion says nothing about when the transaction took effect: it stays pending for good
    return txns
