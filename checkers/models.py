"""Consistency models for the linearizability checker: pure functions over immutable, hashable states.

A :class:`Model` is a handful of pure functions (Porcupine's ``model.go`` shape):

- ``init() -> state``: the state before any op.
- ``step(state, f, input, output) -> (legal, new_state)``: may an op ``f`` with this invoke value and this
  completion value take effect in ``state``, and what state follows. ``output`` is :data:`UNKNOWN` for ops whose
  outcome was never seen (``info`` ops, or invokes with no completion): ``step`` must then say whether the op
  *could* take effect and give the state it would leave. ``step`` never mutates ``state`` and never raises for a
  value it can't use: an op it can't make sense of is simply not legal.
- ``describe_op(f, input, output)`` and ``describe_state(state)``: short text for people.
- ``to_json(state)``: the state as JSON data for reports.

States must be hashable (the checker memoises ``(linearized set, state)`` pairs) and cheap to compare.

Keyed models (``keyed=True``, here only ``kv``) see the op's key: the checker passes ``input`` as
``(key, invoke_value)``. When ``splittable`` is true, the history may be split by ``Op.key`` and each part checked
on its own with ``per_key`` (P-compositionality: a kv store is linearizable iff every key is).

Optional hints make the search faster and must agree with ``step``:

- ``read_only(f, input, output) -> bool``: true when the op never changes the state where it is legal. The checker
  then places such an op as soon as it is legal, without branching (placing it can never hurt).
- ``read_expect(f, input, output) -> state | NO_EXPECT``: for a read-only op that is legal in exactly one state,
  that state (so the checker can find every satisfied read with one dict lookup).
- ``overwrites(f, input, output) -> bool``: true when the op is legal in every state and the state it leaves does
  not depend on the state it met (a blind write). The checker then never tries an unknown-outcome such op where
  another such op, or nothing, follows it: a linearization that does so can leave it out.
- ``footprint(f, input) -> hashable | None``: which independent part of the state an op touches. Ops with
  different non-None footprints must commute and never affect each other's legality (a kv store's keys); None
  means "may touch anything". The search uses it to avoid trying orders of independent ops (partial-order
  reduction) when a keyed model is checked whole.

Op vocabulary: register ``read``/``write``; cas-register adds ``cas`` with value ``[old, new]``; kv per key
``get``/``read``, ``put``/``write``, ``append``, ``cas`` (a missing key reads as ``""``; ``null`` is read as the
same); counter ``add``/``read``; set ``add``/``read`` (the full set); queue ``enqueue``/``dequeue``; mutex
``acquire``/``release``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from splitbrain.history.errors import BadInput
from splitbrain.history.values import freeze as _freeze


class _Unknown:
    """The completion value of an op whose outcome was never seen."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self):  # keep it a singleton across processes
        return (_unknown, ())


def _unknown() -> "_Unknown":
    return UNKNOWN


UNKNOWN = _Unknown()
NO_EXPECT = object()

READS = frozenset({"read", "get"})


def _jsonable(v: Any) -> Any:
    if isinstance(v, (frozenset, set)):
        items = [_jsonable(x) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def _show(v: Any) -> str:
    if v is None:
        return "nil"
    try:
        return json.dumps(_jsonable(v), ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(v)


def _pair(v: Any) -> tuple | None:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return _freeze(v[0]), _freeze(v[1])
    return None


def _never(f, i, o) -> bool:
    return False


def _no_expect(f, i, o) -> Any:
    return NO_EXPECT


def _default_describe_op(f: str, i: Any, o: Any) -> str:
    if o is UNKNOWN:
        return f"{f}({_show(i)}) -> ?"
    return f"{f}({_show(i)}) -> {_show(o)}"


@dataclass(frozen=True)
class Model:
    """A sequential specification. See the module docstring for the contract of each function."""

    name: str
    init: Callable[[], Any]
    step: Callable[[Any, str, Any, Any], tuple[bool, Any]]
    describe_state: Callable[[Any], str] = _show
    describe_op: Callable[[str, Any, Any], str] = _default_describe_op
    to_json: Callable[[Any], Any] = _jsonable
    read_only: Callable[[str, Any, Any], bool] = _never
    read_expect: Callable[[str, Any, Any], Any] = _no_expect
    overwrites: Callable[[str, Any, Any], bool] = _never
    footprint: "Callable[[str, Any], Any] | None" = None
    keyed: bool = False
    splittable: bool = False
    per_key: "Model | None" = field(default=None, repr=False)

    def partition(self, ops: list) -> dict[Any, list]:
        """Split client ops by ``Op.key`` (only meaningful when ``splittable``). Keeps history order."""
        parts: dict[Any, list] = {}
        plain = (str, int, type(None))
        for op in ops:
            k = op.key
            if k.__class__ not in plain:
                k = _freeze(k)
            p = parts.get(k)
            if p is None:
                parts[k] = [op]
            else:
                p.append(op)
        return parts


# --- register and cas-register -------------------------------------------------------------------------------

def _register_step(state, f, i, o):
    if f in READS:
        if o is UNKNOWN:
            return True, state
        return _freeze(o) == state, state
    if f == "write":
        return True, _freeze(i)
    return False, state


def _cas_register_step(state, f, i, o):
    if f == "cas":
        p = _pair(i)
        if p is None or p[0] != state:
            return False, state
        return True, p[1]
    return _register_step(state, f, i, o)


def _register_read_only(f, i, o) -> bool:
    return f in READS


def _register_expect(f, i, o):
    if f in READS and o is not UNKNOWN:
        return _freeze(o)
    return NO_EXPECT


def _cas_noop(f, i):
    """For a cas whose old and new values are equal (legal only where it changes nothing): the value."""
    if f == "cas":
        p = _pair(i)
        if p is not None and p[0] == p[1]:
            return p[0]
    return NO_EXPECT


def _cas_register_read_only(f, i, o) -> bool:
    return f in READS or _cas_noop(f, i) is not NO_EXPECT


def _cas_register_expect(f, i, o):
    if f == "cas":
        return _cas_noop(f, i)
    return _register_expect(f, i, o)


def _register_overwrites(f, i, o) -> bool:
    return f == "write"


def _register_describe_op(f, i, o):
    if f in READS:
        return f"read -> {'?' if o is UNKNOWN else _show(o)}"
    if f == "cas":
        p = _pair(i)
        return f"cas {_show(p[0])} -> {_show(p[1])}" if p else f"cas {_show(i)}"
    return f"{f} {_show(i)}"


REGISTER = Model("register", lambda: None, _register_step, describe_op=_register_describe_op,
                 read_only=_register_read_only, read_expect=_register_expect, overwrites=_register_overwrites)
CAS_REGISTER = Model("cas-register", lambda: None, _cas_register_step, describe_op=_register_describe_op,
                     read_only=_cas_register_read_only, read_expect=_cas_register_expect,
                     overwrites=_register_overwrites)


# --- kv -------------------------------------------------------------------------------------------------------
# One key's state is its value; a missing key is "" (Porcupine's kv model). A read of null means "missing" too.

def _kv_norm(v):
    return "" if v is None else _freeze(v)


def _kv_key_step(state, f, i, o):
    if f == "append" and i.__class__ is str and state.__class__ is str:
        return True, state + i         # the common case, as below (a str is its own _kv_norm)
    if f in READS:
        if o is UNKNOWN:
            return True, state
        return _kv_norm(o) == state, state
    if f in ("put", "write"):
        return True, _kv_norm(i)
    if f == "append":
        v = _kv_norm(i)
        if isinstance(state, str) and isinstance(v, str):
            return True, state + v
        if isinstance(state, tuple):
            return True, state + (v,)
        if state == "":
            return True, (v,)
        return False, state
    if f == "cas":
        p = _pair(i)
        if p is None or _kv_norm(p[0]) != state:
            return False, state
        return True, _kv_norm(p[1])
    return False, state


def _kv_key_expect(f, i, o):
    if f in READS and o is not UNKNOWN:
        return _kv_norm(o)
    if f == "cas":
        old = _cas_noop(f, i)
        return NO_EXPECT if old is NO_EXPECT else _kv_norm(old)
    return NO_EXPECT


def _kv_describe_state(state):
    return '""' if state == "" else _show(state)


KV_KEY = Model("kv", lambda: "", _kv_key_step, describe_state=_kv_describe_state,
               describe_op=_register_describe_op, read_only=_cas_register_read_only, read_expect=_kv_key_expect,
               overwrites=lambda f, i, o: f in ("put", "write"))


def _kv_step(state, f, i, o):
    """The whole store: state is a frozenset of (key, value) pairs with non-empty values; input is (key, value)."""
    key, value = i
    cur = ""
    for k, v in state:
        if k == key:
            cur = v
            break
    legal, new = _kv_key_step(cur, f, value, o)
    if not legal or new == cur:
        return legal, state
    return True, frozenset([(k, v) for k, v in state if k != key] + ([(key, new)] if new != "" else []))


def _kv_store_describe_state(state):
    if not state:
        return "{} (every key missing)"
    return "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in sorted(state, key=repr)) + "}"


def _kv_describe_op(f, i, o):
    key, value = i
    return f"[{_show(key)}] " + _register_describe_op(f, value, o)


KV = Model("kv", frozenset, _kv_step, describe_state=_kv_store_describe_state, describe_op=_kv_describe_op,
           to_json=lambda s: {str(k): _jsonable(v) for k, v in sorted(s, key=repr)},
           read_only=_register_read_only, footprint=lambda f, i: i[0], keyed=True, splittable=True,
           per_key=KV_KEY)


# --- counter --------------------------------------------------------------------------------------------------

def _counter_step(state, f, i, o):
    if f == "add":
        if isinstance(i, bool) or not isinstance(i, (int, float)):
            return False, state
        return True, state + i
    if f == "read":
        return (True if o is UNKNOWN else o == state and not isinstance(o, bool)), state
    return False, state


COUNTER = Model("counter", lambda: 0, _counter_step, read_only=lambda f, i, o: f == "read",
                read_expect=lambda f, i, o: o if f == "read" and o is not UNKNOWN and not isinstance(o, bool)
                else NO_EXPECT)


# --- set ------------------------------------------------------------------------------------------------------

def _set_step(state, f, i, o):
    if f == "add":
        return True, state | {_freeze(i)}
    if f == "read":
        if o is UNKNOWN:
            return True, state
        if not isinstance(o, (list, tuple)):
            return False, state
        return frozenset(_freeze(x) for x in o) == state, state
    return False, state


def _set_expect(f, i, o):
    if f == "read" and isinstance(o, (list, tuple)):
        return frozenset(_freeze(x) for x in o)
    return NO_EXPECT


SET = Model("set", frozenset, _set_step, read_only=lambda f, i, o: f == "read", read_expect=_set_expect)


# --- queue ----------------------------------------------------------------------------------------------------

def _queue_step(state, f, i, o):
    if f == "enqueue":
        return True, state + (_freeze(i),)
    if f == "dequeue":
        if o is UNKNOWN:
            return True, state[1:]
        if not state:
            return o is None, state
        return state[0] == _freeze(o), state[1:]
    return False, state


QUEUE = Model("queue", tuple, _queue_step)


# --- mutex ----------------------------------------------------------------------------------------------------

def _mutex_step(state, f, i, o):
    if f == "acquire":
        return (not state), True
    if f == "release":
        return state, False
    return False, state


MUTEX = Model("mutex", lambda: False, _mutex_step, describe_state=lambda s: "held" if s else "free",
              describe_op=lambda f, i, o: f + (" (outcome unknown)" if o is UNKNOWN else ""))


MODELS: dict[str, Model] = {m.name: m for m in (REGISTER, CAS_REGISTER, KV, COUNTER, SET, QUEUE, MUTEX)}


def get_model(name: "str | Model") -> Model:
    """The model called ``name`` (a Model passes through). Raises BadInput naming ``--model`` if there is none."""
    if isinstance(name, Model):
        return name
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise BadInput(f"unknown model {name!r} (expected one of {', '.join(sorted(MODELS))})", "--model") from None


#: Models whose starting value ``with_initial_value`` can set.
INITIAL_VALUE_MODELS = ("register", "cas-register")


def with_initial_value(model: "str | Model", value: Any) -> Model:
    """The register or cas-register model starting at ``value`` (JSON data) instead of nil: Knossos' test
    histories assume a register that starts at 0. Its name says so (``"cas-register starting at 0"``), which is how
    results show it. Raises BadInput naming ``--initial-value`` for any other model."""
    m = get_model(model)
    if m.name not in INITIAL_VALUE_MODELS:
        raise BadInput(f"a starting value is for the {' and '.join(INITIAL_VALUE_MODELS)} models, not {m.name!r}",
                       "--initial-value")
    state = _freeze(value)
    return dataclasses.replace(m, name=f"{m.name} starting at {_show(value)}", init=lambda: state)


def parse_initial_value(text: str) -> Any:
    """A command-line starting value: JSON when it parses as JSON (``0``, ``"a"``, ``[1, 2]``, ``null``), else the
    text itself as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text
    except RecursionError:
        raise BadInput("the value nests too deeply", "--initial-value") from None
