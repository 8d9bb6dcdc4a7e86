"""Fault schedules as generators (Jepsen's combined-nemesis style) and the final phase that heals and reads.

A *fault* is any object with pure methods ``start_op(rng, nodes, leader=None) -> Invocation`` and
``stop_op(rng, nodes, leader=None) -> Invocation``; if ``stop_op`` accepts a ``started`` keyword it also gets the
start Invocation it undoes (say, which node was killed). Faults draw randomness only from the ``rng`` they are
given. The generators here call them only when the op is due, never ahead of time.
"""

from __future__ import annotations

import inspect

from splitbrain.history.errors import BadInput
from splitbrain.harness.generator.combinators import (_ns, clients, each_thread, nemesis, once, phases, sleep)
from splitbrain.harness.generator.core import PENDING, GenOp, Generator, GeneratorError, Pending, lift

_START, _STOP = 0, 1
#: The f of the op that heals every fault at the end of a test (its completion: ``{fault name: what was done}``).
HEAL_ALL = "heal-all"


def _takes_started(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "started" or p.kind is p.VAR_KEYWORD for p in params)


def _as_op(inv, ctx):
    """The GenOp for a fault's Invocation on the (only) free nemesis-side thread, or PENDING."""
    process = ctx.some_free_process()
    if process is None:
        return PENDING
    f = getattr(inv, "f", None)
    if not isinstance(f, str):
        raise GeneratorError(f"a fault returned {inv!r}, not an Invocation")
    return GenOp(process, ctx.time, f, inv.value, inv.key, None)


class NemesisCycle(Generator):
    """Every ``interval`` ns, start the next fault; ``duration`` ns after its scheduled start, stop
    it. Start k is due at ``t0 + k*interval`` (t0: when first asked); its stop at ``t0 + k*interval + duration``.
    If the nemesis thread is still busy when an op is due, the op waits for it (faults never overlap: a stop always
    follows its own start). Faults are taken round robin, or drawn from ``ctx.rng`` when ``order="random"``."""

    __slots__ = ("faults", "interval", "duration", "nodes", "order", "leader", "_started_kw",
                 "t0", "k", "phase", "idx", "started")

    def __init__(self, faults, interval, duration, nodes, order, leader, started_kw,
                 t0=None, k=0, phase=_START, idx=0, started=None):
        self.faults, self.interval, self.duration = faults, interval, duration
        self.nodes, self.order, self.leader, self._started_kw = nodes, order, leader, started_kw
        self.t0, self.k, self.phase, self.idx, self.started = t0, k, phase, idx, started

    def _next(self, t0, k, phase, idx, started) -> "NemesisCycle":
        return NemesisCycle(self.faults, self.interval, self.duration, self.nodes, self.order, self.leader,
                            self._started_kw, t0, k, phase, idx, started)

    def op(self, ctx):
        t0 = ctx.time if self.t0 is None else self.t0
        k, phase = self.k, self.phase
        due = t0 + k * self.interval + (0 if phase == _START else self.duration)
        if ctx.time < due or not ctx.free:
            me = self if t0 == self.t0 else self._next(t0, k, phase, self.idx, self.started)
            return (Pending(due) if ctx.time < due else PENDING), me
        leader = self.leader(ctx) if self.leader is not None else None
        rng = ctx.rng
        if phase == _START:
            n = len(self.faults)
            idx = k % n if self.order == "round-robin" else rng.randrange(n)
            inv = self.faults[idx].start_op(rng, self.nodes, leader=leader)
            return _as_op(inv, ctx), self._next(t0, k, _STOP, idx, inv)
        fault = self.faults[self.idx]
        if self._started_kw[self.idx]:
            inv = fault.stop_op(rng, self.nodes, leader=leader, started=self.started)
        else:
            inv = fault.stop_op(rng, self.nodes, leader=leader)
        return _as_op(inv, ctx), self._next(t0, k + 1, _START, 0, None)

    def __repr__(self):
        return f"NemesisCycle(k={self.k}, phase={'start' if self.phase == _START else 'stop'})"


def nemesis_cycle(faults, interval: float, duration: float, *, nodes=(), order: str = "round-robin",
                  leader=None) -> Generator:
    """An endless fault schedule on the nemesis thread: every ``interval`` seconds start a fault from the next
    fault, stop it ``duration`` seconds later. ``leader`` is an optional function ``ctx -> node name | None``
    passed to the faults (for leader-targeted faults). Wrap in ``time_limit`` to end it; the final phase heals.
    Raises BadInput when duration is not within (0, interval] (a fault would outlive the next one's start)."""
    faults = tuple(faults)
    if not faults:
        raise BadInput("no faults to schedule", "nemesis")
    i_ns = _ns(interval, "nemesis interval")
    d_ns = _ns(duration, "fault duration")
    if i_ns <= 0:
        raise BadInput(f"the nemesis interval must be positive, got {interval!r} s", "nemesis interval")
    if not 0 < d_ns <= i_ns:
        raise BadInput(f"a fault's duration ({duration} s) must be positive and at most the interval between "
                       f"faults ({interval} s)", "fault duration")
    if order not in ("round-robin", "random"):
        raise BadInput(f"fault order must be 'round-robin' or 'random', got {order!r}", "nemesis order")
    for p in faults:
        if not (callable(getattr(p, "start_op", None)) and callable(getattr(p, "stop_op", None))):
            raise GeneratorError(f"fault {p!r} has no start_op/stop_op")
    started_kw = tuple(_takes_started(p.stop_op) for p in faults)
    return nemesis(NemesisCycle(faults, i_ns, d_ns, tuple(nodes), order, leader, started_kw))


def heal_all() -> Generator:
    """On the nemesis thread: one ``heal-all`` op, which the nemesis worker answers by healing every fault of the
    run (the one heal path: each fault's ``heal``, in heal order)."""
    return nemesis(once({"f": HEAL_ALL}))


def final_phase(final_op=None, *, heal: bool = False, quiet: float = 0.0) -> Generator:
    """The end of a test, as one generator to put last in ``phases``: with ``heal``, heal every fault (one
    ``heal-all`` op on the nemesis thread), wait ``quiet`` seconds for the system to settle, then
    every client thread performs ``final_op`` once (an op as data or a function of the context; typically a final
    read, one per thread and so one per node)."""
    parts = []
    if heal:
        parts.append(heal_all())
    if quiet:
        parts.append(sleep(quiet))
    if final_op is not None:
        parts.append(clients(each_thread(once(lift(final_op)))))
    return phases(*parts)
