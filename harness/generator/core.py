"""The generator protocol: contexts, generated ops, the pending signal, and lifting plain data into generators.

Modelled on Jepsen's ``jepsen.generator``. A generator is an immutable object with two pure methods:

``op(ctx) -> (result, next_generator)``
    ``result`` is a :class:`GenOp` (an op to run at ``op.time``), a :class:`Pending` (nothing yet: ask again after
    the next event, or at ``pending.until`` if it says so) or ``None`` (exhausted for good). ``next_generator`` is
    the state after emitting the op. On ``Pending`` the caller adopts ``next_generator`` too (a generator may have
    started a clock it must keep, like ``sleep``); on ``None`` it is meaningless. When the caller does not dispatch
    an op it was given (a completion arrived before the op's time), it discards ``next_generator`` and asks the old
    generator again, as Jepsen's interpreter does.

``update(ctx, event) -> next_generator``
    ``event`` is the :class:`splitbrain.history.ops.Op` just recorded: every invoke and every completion.

Generators never mutate anything, never read clocks and never use global randomness: time is ``ctx.time`` and
randomness is ``ctx.rng`` (a ``random.Random`` seeded from the test seed, owned by the runner). A generator must not
keep a reference to a context beyond the call.

Threads are client threads ``0..C-1`` and ``"nemesis"``. Inside a context they are bits of an int (client thread
``t`` is bit ``t``, the nemesis is bit ``C``), so restricting, counting and picking the lowest free thread are single
integer operations; ``free_threads`` and ``all_threads`` give the set view. A client process always runs on thread
``process % C`` (processes start at the thread id and grow by ``C`` after each ``info``), so the thread of any
event is known without a lookup table.
"""

from __future__ import annotations

import inspect
import random
from typing import Any, NamedTuple

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import SplitbrainError

NEMESIS = "nemesis"
NS = 1_000_000_000

#: Hot paths build Context and GenOp tuples with ``_new(Cls, (fields...))``: all fields, in order. It skips the
#: NamedTuple constructor's Python-level argument handling (about half the cost of building one).
_new = tuple.__new__


class GeneratorError(SplitbrainError):
    """A generator broke the protocol (an op without ``f``, an op for a busy thread, a value that can't be lifted).
    It is a bug in the test's definition, so it means the harness failed (exit 255)."""


class GenOp(NamedTuple):
    """An op a generator wants run: by ``process``, not before ``time`` (ns since the test began), doing ``f`` on
    ``key`` with argument ``value`` (as :class:`splitbrain.harness.api.Invocation`). ``timeout`` (seconds) is an optional
    deadline the interpreter enforces; without it the worker's own timeout applies. Immutable."""

    process: Any
    time: int
    f: str
    value: Any = None
    key: Any = None
    timeout: float | None = None

    #: Distinguishes an op from a :class:`Pending` without an isinstance check in hot paths.
    is_op = True

    def invocation(self) -> Invocation:
        return Invocation(self.f, self.value, self.key)


class Pending(NamedTuple):
    """Nothing to emit yet. ``until`` (ns) is the time at which asking again may give a different answer when no
    event arrives first; ``None`` means only an event (a completion, an invoke) can change it. Immutable."""

    until: int | None = None

    is_op = False

    def __repr__(self) -> str:
        return "PENDING" if self.until is None else f"Pending(until={self.until})"


PENDING = Pending(None)


def pending_until(a: int | None, b: int | None) -> Pending:
    """The pending signal that wakes at the earlier of two hints (``None`` = no hint)."""
    if a is None:
        return PENDING if b is None else Pending(b)
    if b is None or a <= b:
        return Pending(a)
    return Pending(b)


class Context(NamedTuple):
    """What a generator sees. Immutable.

    ``time`` is ns since the test began; ``threads`` is the bitmask of threads this generator may use (combinators
    like ``on_threads`` narrow it), ``free`` the subset that is idle now; ``concurrency`` is the number of client
    threads C (bit C is the nemesis); ``processes[i]`` is the process currently running on thread bit ``i``;
    ``rng`` is the run's only source of randomness.
    """

    time: int
    free: int
    threads: int
    concurrency: int
    processes: tuple
    rng: random.Random

    # -- threads and processes ---------------------------------------------------------------------------------
    def bit_of_thread(self, thread) -> int:
        """Bit index of a thread name (``0..C-1`` or ``"nemesis"``)."""
        return self.concurrency if thread == NEMESIS else int(thread)

    def thread_name(self, bit: int):
        return NEMESIS if bit == self.concurrency else bit

    def bit_of_process(self, process) -> int:
        """Bit index of the thread a process runs on (see the module docstring for why ``% C`` is exact)."""
        if type(process) is int:
            return process % self.concurrency
        if process == NEMESIS:
            return self.concurrency
        raise GeneratorError(f"unknown process {process!r}")

    def thread_of(self, process):
        return self.thread_name(self.bit_of_process(process))

    def process_of(self, thread):
        return self.processes[self.bit_of_thread(thread)]

    def some_free_process(self):
        """The process of the lowest free thread (clients before the nemesis), or None if none is free.
        Deterministic: never depends on set iteration order."""
        free = self.free
        if not free:
            return None
        return self.processes[(free & -free).bit_length() - 1]

    @property
    def free_threads(self) -> frozenset:
        return frozenset(_names(self.free, self.concurrency))

    @property
    def all_threads(self) -> frozenset:
        return frozenset(_names(self.threads, self.concurrency))

    @property
    def all_free(self) -> bool:
        return self.free == self.threads

    # -- derived contexts --------------------------------------------------------------------------------------
    def restrict(self, mask: int) -> "Context":
        """This context seen by a generator that may only use the threads in ``mask``."""
        return _new(Context, (self.time, self.free & mask, self.threads & mask, self.concurrency, self.processes,
                              self.rng))


def _names(mask: int, concurrency: int):
    while mask:
        low = mask & -mask
        bit = low.bit_length() - 1
        yield NEMESIS if bit == concurrency else bit
        mask ^= low


def thread_mask(threads, concurrency: int) -> int:
    """Bitmask of thread names; client thread ids outside ``0..C-1`` are ignored (they don't exist in this run)."""
    mask = 0
    for t in threads:
        if t == NEMESIS:
            mask |= 1 << concurrency
        elif isinstance(t, int) and not isinstance(t, bool) and 0 <= t < concurrency:
            mask |= 1 << t
        else:
            if not isinstance(t, int):
                raise GeneratorError(f"unknown thread {t!r} (threads are 0..C-1 and \"nemesis\")")
    return mask


# ---------------------------------------------------------------------------------------------------------- base


class Generator:
    """Base class: subclasses implement ``op``; ``update`` defaults to ignoring events. Subclasses must be
    immutable: every state change returns a new object (returning ``self`` when nothing changed keeps updates
    cheap)."""

    __slots__ = ()

    def op(self, ctx: Context):
        raise NotImplementedError

    def update(self, ctx: Context, event) -> "Generator":
        return self


class _Empty(Generator):
    """The exhausted generator (what ``None`` lifts to)."""

    __slots__ = ()

    def op(self, ctx):
        return None, self

    def __repr__(self):
        return "EMPTY"


EMPTY = _Empty()

_OP_KEYS = frozenset({"f", "value", "key", "timeout", "process", "time"})
#: Keys of an op dict that need no free-thread or time handling beyond the default.
_FAST_KEYS = frozenset({"f", "value", "key", "timeout"})


def _template(x) -> tuple:
    """Validate an op given as data (dict, Invocation or GenOp) once; return (f, value, key, timeout, process,
    time)."""
    if isinstance(x, dict):
        unknown = x.keys() - _OP_KEYS
        if unknown:
            raise GeneratorError(f"op {x!r} has unknown key(s) {sorted(map(str, unknown))} "
                                 f"(allowed: {sorted(_OP_KEYS)})")
        f = x.get("f")
        if not isinstance(f, str):
            raise GeneratorError(f"op {x!r} needs a string 'f'")
        return f, x.get("value"), x.get("key"), x.get("timeout"), x.get("process"), x.get("time")
    if isinstance(x, GenOp):
        return x.f, x.value, x.key, x.timeout, x.process, x.time
    if isinstance(x, Invocation):
        return x.f, x.value, x.key, None, None, None
    raise GeneratorError(f"not an op: {x!r}")


def _pick_free(free: int, rng: random.Random) -> int:
    """Bit index of a free thread chosen uniformly with ``rng``: ops spread over all idle clients (and so over all
    nodes) instead of piling onto the lowest-numbered ones, which are idle most often under a light load."""
    if free & (free - 1) == 0:  # exactly one free thread
        return free.bit_length() - 1
    for _ in range(rng.randrange(free.bit_count())):
        free &= free - 1  # drop the lowest set bit
    return (free & -free).bit_length() - 1


def _fill(tpl: tuple, ctx: Context):
    """The GenOp for a template in this context, or PENDING if no suitable thread is free."""
    f, value, key, timeout, process, time = tpl
    if process is None:
        free = ctx.free
        if not free:
            return PENDING
        process = ctx.processes[_pick_free(free, ctx.rng)]
    elif not (ctx.free >> ctx.bit_of_process(process)) & 1:
        return PENDING
    t = ctx.time if time is None or time < ctx.time else time
    return _new(GenOp, (process, t, f, value, key, timeout))


class OpOnce(Generator):
    """A single op given as data (a dict, an Invocation): emitted once, on some free thread, then exhausted.
    Like Jepsen's maps."""

    __slots__ = ("tpl",)

    def __init__(self, x):
        self.tpl = _template(x)

    def op(self, ctx):
        r = _fill(self.tpl, ctx)
        return r, (self if r is PENDING else EMPTY)

    def __repr__(self):
        return f"OpOnce({self.tpl[0]!r})"


class FnGen(Generator):
    """A function of the context, called each time an op is wanted: it returns an op as data (infinite stream),
    a generator to run before calling the function again, or None (exhausted). Like Jepsen's fn generators.
    The function must be pure apart from drawing from ``ctx.rng``."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def op(self, ctx):
        free = ctx.free
        if not free:
            # Every op needs a free thread; don't call fn (and don't draw randomness) for nothing.
            return PENDING, self
        x = self.fn(ctx)
        if x is None:
            return None, self
        if type(x) is dict:
            # Fast path: the common case of a small op dict. Unusual keys go through the full validation.
            if not x.keys() <= _FAST_KEYS:
                return _fill(_template(x), ctx), self
            f = x.get("f")
            if f.__class__ is not str:
                raise GeneratorError(f"op {x!r} from {self.fn!r} needs a string 'f'")
            return _new(GenOp, (ctx.processes[_pick_free(free, ctx.rng)], ctx.time, f, x.get("value"),
                                x.get("key"), x.get("timeout"))), self
        if isinstance(x, (Invocation, GenOp)):
            return _fill(_template(x), ctx), self
        return Seq((lift(x), self)).op(ctx)

    def __repr__(self):
        return f"FnGen({getattr(self.fn, '__qualname__', self.fn)!r})"


class Seq(Generator):
    """Each generator in turn: when one is exhausted the next starts. Updates go to the current one only.
    Does not wait for the previous one's ops to complete (that is ``phases``)."""

    __slots__ = ("items", "i", "cur")

    def __init__(self, items, i: int = 0, cur: Generator | None = None):
        self.items = items
        self.i = i
        self.cur = cur

    def op(self, ctx):
        items, i, cur = self.items, self.i, self.cur
        n = len(items)
        while True:
            if cur is None:
                if i >= n:
                    return None, self
                cur = lift(items[i])
                i += 1
            r, nxt = cur.op(ctx)
            if r is None:
                cur = None
                continue
            return r, Seq(items, i, nxt)

    def update(self, ctx, event):
        cur = self.cur
        if cur is None:
            return self
        nxt = cur.update(ctx, event)
        return self if nxt is cur else Seq(self.items, self.i, nxt)

    def __repr__(self):
        return f"Seq({len(self.items)} items, at {self.i})"


def _wrap_fn(fn):
    """Accept ``fn(ctx)`` and ``fn()``; decided once, at lift time."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                  and (p.default is p.empty or p.kind is p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return fn
    if not params:
        return lambda ctx, _fn=fn: _fn()
    return fn


def lift(x) -> Generator:
    """Turn plain data into a generator: a Generator is itself; None is exhausted; a dict, Invocation or GenOp is a
    one-shot op; a function is an infinite generator (see :class:`FnGen`); a list or tuple runs its elements in
    order. Anything else (iterators included: they are not pure) is a GeneratorError.

    Ops from plain data go to a free thread of the context chosen with ``ctx.rng``, the nemesis thread included:
    wrap client streams in ``clients(...)`` and fault streams in ``nemesis(...)``."""
    if isinstance(x, Generator):
        return x
    if x is None:
        return EMPTY
    if isinstance(x, (dict, Invocation, GenOp)):
        return OpOnce(x)
    if isinstance(x, (list, tuple)):
        return Seq(tuple(x))
    if callable(x):
        return FnGen(_wrap_fn(x))
    raise GeneratorError(f"can't use {type(x).__name__} {x!r} as a generator")
