"""The fast verdict-only linearizability search: a native core (checkers/_lin_native.c) behind one function.

Private module. Contract of :func:`fast_verdict` (that of :func:`checkers._lin_plain.plain_verdict`, widened to
unknown outcomes): given one part's ops (history order, no nemesis ops) and an unkeyed model, answer

- ``True``: some order of its ops that respects real time is legal for the model (found, never guessed);
- ``False``: no such order exists;
- ``None``: this search does not apply or gave up (more pending ops than the native masks hold, or the step cap
  :data:`INFO_STEP_CAP` on a part with unknown-outcome ops); the caller runs :func:`checkers._lin_search.search`,
  so None is always safe.

Unlike ``plain_verdict`` it handles ops with an unknown outcome (``info`` completions and invokes that never
completed): they stay pending to the end, may take effect at most once, and read-only ones are left out. It calls
``budget.check()`` every few thousand steps and lets :class:`checkers._lin_search.Interrupted` through.

How the model is run: the built-in register, cas-register and kv (per key) models are compiled here into
transitions the native core runs without calling Python (a write sets a state, a compare-and-set maps one state
to another, a kv append of a str concatenates); any other model (a plugin's) is run through ``model.step``,
called from C once per (op, state). States are interned to ints in C, so any hashable state works.

Without the native module (not built) or with ``SPLITBRAIN_PURE=1`` in the environment, this is ``plain_verdict``
(None for parts with unknown-outcome ops).
"""

from __future__ import annotations

import os
from typing import Any

from checkers import models as _m
from checkers._lin_plain import plain_verdict
from checkers.models import NO_EXPECT, UNKNOWN, Model, _freeze

try:
    from checkers import _lin_native
except ImportError:  # not built (no compiler where it was installed): the pure path below
    _lin_native = None

#: Op kinds of the native core (see checkers/_lin_native.c).
K_READ, K_SET, K_CAS, K_NEVER, K_APPEND, K_GENERIC = range(6)
#: With unknown-outcome ops, the native search gives up (None) past this many steps: the Python search's
#: antichains and narrow first pass may do better on such parts. Without them it never gives up (it is exact and
#: faster than the Python search on every part; only the deadline stops it).
INFO_STEP_CAP = 20_000_000
#: Configurations kept per (state, other bits) by the first, narrow pass over parts with unknown-outcome ops (as
#: checkers.linearizable's FIRST_PASS_KEEP); a failure there that dropped some runs the full search.
FIRST_PASS_KEEP = 1


def native_available() -> bool:
    """Whether the native core is built and not switched off by ``SPLITBRAIN_PURE=1``."""
    return _lin_native is not None and os.environ.get("SPLITBRAIN_PURE") != "1"


def fast_verdict(history: list, model: Model, budget) -> bool | None:
    """True / False / None for one part (see the module docstring)."""
    if not native_available():
        return plain_verdict(history, model, budget)
    ops, events, has_info = _compile(history, model)
    init = model.init()
    if not has_info:
        got = _lin_native.search(ops, events, init, model.step, budget.check, 0, -1)
    else:
        got = _lin_native.search(ops, events, init, model.step, budget.check, FIRST_PASS_KEEP, INFO_STEP_CAP)
        if got == 2:  # not found after dropping configurations: only the full search can tell
            got = _lin_native.search(ops, events, init, model.step, budget.check, 0, INFO_STEP_CAP)
    if got == 1:
        return True
    if got == 0:
        return False
    return None


def _compile(history: list, model: Model) -> tuple[list, list, bool]:
    """Pair ops by process and describe each kept one as the native core wants it: (ops, events, any unknown
    outcome?). Drops fail ops and read-only unknown-outcome ops; an invoke whose process invokes again before
    completing it, or never completes it, has an unknown outcome (as :func:`checkers._lin_search.prepare`)."""
    open_: dict[Any, list] = {}
    recs: list[list] = []               # [f, input, output, info?, dropped?, rec number]
    raw: list[int] = []                 # rec number for a call, ~rec number for a return
    for op in history:
        t = op.type
        if t == "invoke":
            r = [op.f, op.value, UNKNOWN, True, False, len(recs)]
            open_[op.process] = r
            raw.append(len(recs))
            recs.append(r)
            continue
        r = open_.pop(op.process, None)
        if r is None:
            continue                    # a completion without its invoke: ignored, as prepare does
        if t == "fail":
            r[4] = True                 # it never happened
        elif t != "info":
            r[2] = op.value
            r[3] = False
            raw.append(~r[5])
    kind_of = _KINDS.get(model.step)
    read_only = model.read_only
    read_expect = model.read_expect
    overwrites = model.overwrites
    new_no: list[int] = [-1] * len(recs)
    ops: list[tuple] = []
    classes: dict[Any, int] = {}
    has_info = False
    for n, (f, inp, out, info, dropped, _n) in enumerate(recs):
        if dropped:
            continue
        if read_only(f, inp, out):
            if info:
                continue                # constrains nothing
            e = read_expect(f, inp, out)
            if e is not NO_EXPECT:
                new_no[n] = len(ops)
                ops.append((K_READ, e, None, f, inp, out, False, False, -1))
                continue
        kind, a, b = kind_of(f, inp) if kind_of is not None else (K_GENERIC, None, None)
        if info and kind == K_NEVER:
            continue                    # can never take effect
        cls = -1
        if info:
            has_info = True
            cls = classes.setdefault((f, _hashable(inp)), len(classes))
        blind = kind == K_SET or (kind == K_GENERIC and bool(overwrites(f, inp, out)))
        new_no[n] = len(ops)
        ops.append((kind, a, b, f, inp, out, info, blind, cls))
    events: list[int] = []
    for ev in raw:
        if ev >= 0:
            k = new_no[ev]
            if k >= 0:
                events.append(k)
        else:
            k = new_no[~ev]
            if k >= 0:
                events.append(~k)
    return ops, events, has_info


def _hashable(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_hashable(x) for x in v)
    return _freeze(v)


# --- built-in models compiled to native transitions -------------------------------------------------------------
# Each gives (kind, a, b) for an op that is not a read with a single expected state; it must agree with the
# model's step exactly (tests/test_lin_fast.py checks native against pure and brute force).

def _register_kind(f, i):
    if f == "write":
        return K_SET, _freeze(i), None
    if f in _m.READS:
        return K_GENERIC, None, None    # a read the hints did not place (not reached for the built-in hints)
    return K_NEVER, None, None


def _cas_register_kind(f, i):
    if f == "cas":
        p = _m._pair(i)
        return (K_NEVER, None, None) if p is None else (K_CAS, p[0], p[1])
    return _register_kind(f, i)


def _kv_kind(f, i):
    if f in ("put", "write"):
        return K_SET, _m._kv_norm(i), None
    if f == "append":
        return (K_APPEND, i, None) if i.__class__ is str else (K_GENERIC, None, None)
    if f == "cas":
        p = _m._pair(i)
        return (K_NEVER, None, None) if p is None else (K_CAS, _m._kv_norm(p[0]), _m._kv_norm(p[1]))
    if f in _m.READS:
        return K_GENERIC, None, None
    return K_NEVER, None, None


_KINDS = {_m._register_step: _register_kind, _m._cas_register_step: _cas_register_kind,
          _m._kv_key_step: _kv_kind}
