"""The fast verdict-only linearizability search: a native core (checkers/_lin_native.c) behind one function.

Private module. Contract of :func:`fast_verdict` (that of
:func:`splitbrain.checkers._lin_definite.definite_verdict`, widened to unknown outcomes): given one part's ops
(history order, no nemesis ops) and an unkeyed model, answer

- ``True``: some order of its ops that respects real time is legal for the model (found, never guessed);
- ``False``: no such order exists;
- ``None``: this search gave up: its depth-first pass passed :data:`DFS_CAP` steps (or 256 MB of cache), and then
  either more ops were pending at once than the native masks hold (128 bits; unknown-outcome ops hold theirs to
  the end) or, on a part with unknown-outcome ops, the breadth-first search passed :data:`INFO_STEP_CAP` steps.
  The caller runs :func:`splitbrain.checkers._lin_search.search` then, so None is always safe.

Unlike ``definite_verdict`` it handles ops with an unknown outcome (``info`` completions and invokes that never
completed): they stay pending to the end, may take effect at most once, and read-only ones are left out. It calls
``budget.check()`` every few thousand steps and lets :class:`splitbrain.checkers._lin_search.Interrupted` through.

How it searches (checkers/_lin_native.c): first depth first, as Porcupine does (one order at a time, with a
cache of (linearized ops, state)), for up to :data:`DFS_CAP` steps: that finds a linearization of a part whose
ops do not commute (a kv key's appends) long before a breadth-first search has listed every order of them. Past
the cap, the just-in-time breadth-first search of checkers/_lin_definite.py and checkers/_lin_search.py decides
(configurations (state, pending ops placed), closures at returns, classes and dominance of unknown-outcome ops).
For the built-in models both searches also commit a read legal where it may be placed, drop dead states (a read
not placed yet whose value can no longer be reached) and merge states no op still to come can observe into one
(so the orders of appends a put wiped out before any read saw them are one node): with those, on a part of a
built-in model without unknown-outcome ops the depth-first pass has no step cap (only the budget stops it).

How the model is run: the built-in register, cas-register and kv (per key) models are compiled here into
transitions the native core runs without calling Python (a write sets a state, a compare-and-set maps one state
to another, a kv append of a str concatenates); any other model (a plugin's) is run through ``model.step``,
called from C once per (op, state). States are interned to ints in C, so any hashable state works.

Without the native module (not built) or with ``SPLITBRAIN_PURE=1`` in the environment, this is ``definite_verdict``
(None for parts with unknown-outcome ops).
"""

from __future__ import annotations

import os
from typing import Any

import splitbrain.checkers.models as _m
from splitbrain.checkers._lin_definite import definite_verdict
from splitbrain.checkers.models import NO_EXPECT, UNKNOWN, Model, _freeze

try:
    import splitbrain.checkers._lin_native as _lin_native
except ImportError:  # not built (no compiler where it was installed): the pure path below
    _lin_native = None

#: With unknown-outcome ops, the native search gives up (None) past this many steps: the Python search's
#: antichains and narrow first pass may do better on such parts. Without them it never gives up (it is exact and
#: faster than the Python search on every part; only the deadline stops it).
INFO_STEP_CAP = 20_000_000
#: Configurations kept per (state, other bits) by the first, narrow pass over parts with unknown-outcome ops (as
#: splitbrain.checkers.linearizable's FIRST_PASS_KEEP); a failure there that dropped some runs the full search.
FIRST_PASS_KEEP = 1
#: Steps of the depth-first pass before the breadth-first search takes over (about half a second at most).
DFS_CAP = 2_000_000


def native_available() -> bool:
    """Whether the native core is built and not switched off by ``SPLITBRAIN_PURE=1``."""
    return _lin_native is not None and os.environ.get("SPLITBRAIN_PURE") != "1"


def fast_verdict(history: list, model: Model, budget) -> bool | None:
    """True / False / None for one part (see the module docstring)."""
    if not native_available():
        return definite_verdict(history, model, budget)
    return native_verdict(history, model, budget)


def native_verdict(history: list, model: Model, budget, *, dfs_cap: int = DFS_CAP, generic: bool = False):
    """The native search itself (tests use the knobs): ``dfs_cap`` steps of the depth-first pass (0: none, -1:
    no cap, so it alone decides); ``generic`` runs a built-in model through its Python functions too."""
    code = 0 if generic else _model_code(model)
    return _lin_native.verdict(history, code, model.init(), model.step,
                               (model.read_only, model.read_expect, model.overwrites),
                               (UNKNOWN, NO_EXPECT, _freeze, _class_key), budget.check, FIRST_PASS_KEEP,
                               INFO_STEP_CAP, dfs_cap)


def _model_code(model: Model) -> int:
    """1, 2, 3 for the built-in register, cas-register, kv-key models (their step and hints run natively), 0 for
    any other (a plugin's, or a built-in one with other hints): run through its functions."""
    for code, ref in _BUILT_IN:
        if (model.step is ref.step and model.read_only is ref.read_only and model.read_expect is ref.read_expect
                and model.overwrites is ref.overwrites):
            return code
    return 0


_BUILT_IN = ((1, _m.REGISTER), (2, _m.CAS_REGISTER), (3, _m.KV_KEY))


def _class_key(f, inp) -> Any:
    """Unknown-outcome ops with equal keys are interchangeable (same f and input)."""
    return f, _hashable(inp)


def _hashable(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_hashable(x) for x in v)
    return _freeze(v)
