"""The scheduling state machine shared by the real interpreter and the pure simulator.

It owns the current generator, which threads are free, which process each thread runs, and the op (if any) that
is waiting for its time. It does no I/O and reads no clock: the caller passes ``now`` (ns) and reports what
happened. So the simulator exercises exactly the logic the interpreter runs.

Protocol for the caller (one loop, single-threaded):

1. Report every completion with :meth:`completed` (the recorded history op), then call :meth:`next` with the time.
2. ``next`` returns a :class:`GenOp` to run now (record its invoke, then call :meth:`started` with the record and
   hand it to the thread's worker), an ``int`` (wait until that time or the next completion, whichever comes
   first), ``None`` (wait for the next completion) or :data:`DONE` (nothing left and nothing outstanding).

Process rules (Jepsen's): client thread t starts as process t; after an ``info`` completion its process becomes
process + C and the old id is never used again. The nemesis thread's process is always ``"nemesis"``.
"""

from __future__ import annotations

import logging
import random

from splitbrain.harness.generator.core import EMPTY, NEMESIS, NS, Context, GenOp, GeneratorError, _new, lift

log = logging.getLogger(__name__)

DONE = object()

#: When the generator is pending with no wake-up time and nothing is outstanding, no event can ever change its
#: answer: that is a generator bug. The interpreter re-asks at this interval rather than hang silently.
STUCK_POLL_NS = 100_000_000


class Scheduler:
    """Scheduling state of one run. Not thread-safe; owned by one loop."""

    def __init__(self, generator, *, concurrency: int, nemesis: bool, rng: random.Random,
                 deadline: int | None = None):
        if not isinstance(concurrency, int) or concurrency < 0:
            raise GeneratorError(f"concurrency must be a non-negative integer, got {concurrency!r}")
        if concurrency == 0 and not nemesis:
            raise GeneratorError("a run needs at least one thread")
        self.gen = lift(generator)
        self.concurrency = concurrency
        self.threads = (1 << concurrency) - 1 | ((1 << concurrency) if nemesis else 0)
        self.free = self.threads
        self.processes = tuple(range(concurrency)) + (NEMESIS,)
        self.rng = rng
        self.deadline = deadline
        self.outstanding = 0
        self.exhausted = False
        self.stuck = False
        self._held = None  # (op, generator after it): an op waiting for its time

    # -- asking --------------------------------------------------------------------------------------------------
    def context(self, now: int) -> Context:
        return _new(Context, (now, self.free, self.threads, self.concurrency, self.processes, self.rng))

    def bit_of_process(self, process) -> int:
        if type(process) is int:
            return process % self.concurrency
        return self.concurrency

    def next(self, now: int):
        """What to do at time ``now``: a GenOp to start, a time to wake at, None (wait for a completion), or DONE."""
        if not self.exhausted and self.deadline is not None and now >= self.deadline:
            self.exhausted = True
            self._held = None
        if self.exhausted:
            return None if self.outstanding else DONE
        held = self._held
        if held is not None:
            op = held[0]
            if op.time <= now:
                self._held = None
                self.gen = held[1]
                return op
            return op.time if self.deadline is None or op.time < self.deadline else self.deadline
        if not self.free:
            # Every op needs a free thread: no generator can emit one now, so don't walk the generator stack.
            return None
        r, nxt = self.gen.op(_new(Context, (now, self.free, self.threads, self.concurrency, self.processes, self.rng)))
        if r is None:
            self.exhausted = True
            self.gen = EMPTY
            return None if self.outstanding else DONE
        if not r.is_op:
            self.gen = nxt
            until = r.until
            if self.deadline is not None and (until is None or until > self.deadline):
                until = self.deadline
            if until is None and not self.outstanding:
                if not self.stuck:
                    log.warning("the generator is pending with nothing running and no wake-up time; it can only "
                                "be a generator bug (re-asking every %.1f s)", STUCK_POLL_NS / NS)
                self.stuck = True
                return now + STUCK_POLL_NS
            return until
        bit = self.bit_of_process(r.process)
        if not (self.free >> bit) & 1 or self.processes[bit] != r.process:
            raise GeneratorError(f"the generator emitted {r!r} for process {r.process!r}, which is not a free "
                                 "process of this run")
        if r.time > now:
            self._held = (r, nxt)
            return r.time if self.deadline is None or r.time < self.deadline else self.deadline
        self.gen = nxt
        return r

    # -- reporting -----------------------------------------------------------------------------------------------
    def started(self, op: GenOp, event, now: int) -> None:
        """``op`` was recorded as ``event`` (its invoke) and handed to its worker."""
        bit = self.bit_of_process(op.process)
        self.free &= ~(1 << bit)
        self.outstanding += 1
        if not self.exhausted:
            self.gen = self.gen.update(
                _new(Context, (now, self.free, self.threads, self.concurrency, self.processes, self.rng)), event)

    def completed(self, event, now: int) -> None:
        """The op on ``event.process`` completed (``event`` is the recorded completion)."""
        bit = self.bit_of_process(event.process)
        self.free |= 1 << bit
        self.outstanding -= 1
        self._held = None  # a completion may change what the generator wants: ask again (as Jepsen does)
        self.stuck = False
        if event.type == "info" and bit < self.concurrency:
            procs = list(self.processes)
            procs[bit] = event.process + self.concurrency
            self.processes = tuple(procs)
        if not self.exhausted:
            self.gen = self.gen.update(
                _new(Context, (now, self.free, self.threads, self.concurrency, self.processes, self.rng)), event)
