"""Jepsen's independent keys (``jepsen.independent``): ops whose value is a ``[key value]`` tuple.

A Jepsen test that runs one register per key writes ``{:f :write, :value [3 1]}`` for "write 1 to key 3",
``{:f :read, :value [3 nil]}`` for a read of key 3 and ``{:f :cas, :value [3 [1 2]]}`` for a cas, and checks each
key on its own (``independent/checker``). :func:`split_independent` turns such a history into splitbrain's shape
(``key`` 3, ``value`` 1), so the per-key checker does the same.

It is told apart from a plain register history by the reads and the cas ops: a plain read is invoked with nil, an
independent one with ``[key nil]``; a plain cas carries ``[old new]``, an independent one ``[key [old new]]``. So a
history is taken as independent only when every client invoke carries a two-element vector whose first element is
a scalar, at least one read is invoked with one or one cas with ``[key [old new]]``, and no op has a ``:key`` of
its own. (A history of writes alone can't be told apart, and needs not be: any order of writes is linearizable.)
A pure function of a validated history.
"""

from __future__ import annotations

from typing import Any

from splitbrain.history.ops import INVOKE, NEMESIS, Op

READ_FS = frozenset({"read", "get"})


def _is_tuple(v: Any) -> bool:
    return type(v) is list and len(v) == 2 and type(v[0]) not in (list, dict)


def looks_independent(ops: list[Op]) -> bool:
    """True when ``ops`` is a jepsen.independent history (see the module's docstring for the rule)."""
    telling = False  # an invoke only an independent history has: a read of [k nil], a cas of [k [old new]]
    for op in ops:
        if op.process == NEMESIS:
            continue
        if op.key is not None:
            return False
        if op.type == INVOKE:
            if not _is_tuple(op.value):
                return False
            if op.f in READ_FS or (op.f == "cas" and type(op.value[1]) is list and len(op.value[1]) == 2):
                telling = True
    return telling


def split_independent(ops: list[Op]) -> tuple[list[Op], bool]:
    """``(ops, True)`` with each ``[key value]`` tuple split into ``key`` and ``value`` when the history is a
    jepsen.independent one, else ``(ops, False)`` unchanged. A completion without a tuple (an ``:info`` with nil)
    takes its invoke's key and keeps its own value."""
    if not looks_independent(ops):
        return ops, False
    pending: dict[Any, Any] = {}
    out: list[Op] = []
    for op in ops:
        if op.process == NEMESIS:
            out.append(op)
            continue
        if op.type == INVOKE:
            key, value = op.value
            pending[op.process] = key
        else:  # the pair's key is the invoke's; a completion without a tuple (:info with nil) keeps its value
            key = pending.pop(op.process, None)
            value = op.value[1] if _is_tuple(op.value) else op.value
        out.append(Op(op.index, op.time, op.process, op.type, op.f, value, op.node, key, op.error, op.answered_by))
    return out, True
