"""Run a generator against simulated workers in simulated time: no asyncio, no sleeping, no processes (Jepsen's
``generator.test/simulate``). It drives the same :class:`Scheduler` as the real interpreter, so what it shows is
what the interpreter would do given those latencies.

Each simulated op takes ``latency`` ns (a number, or a function of the op) and completes as ``complete(op)`` says
(default: ``ok``, echoing the op's value). Completions due at the same instant as an invoke are delivered first.
"""

from __future__ import annotations

import heapq
import random
from typing import Callable

from splitbrain.harness.api import Completion
from splitbrain.harness.generator.core import NS, GenOp, GeneratorError
from splitbrain.harness.generator.scheduler import DONE, Scheduler
from splitbrain.history.ops import Op


def _echo(op: GenOp) -> Completion:
    return Completion("ok", op.value)


def simulate(generator, *, concurrency: int = 2, nemesis: bool = True, seed: int = 0,
             latency: int | Callable[[GenOp], int] = 10_000_000,
             complete: Callable[[GenOp], Completion] = _echo,
             time_limit: float | None = None, max_ops: int = 100_000, max_time: float = 3600.0) -> list[Op]:
    """The history (list of :class:`splitbrain.history.ops.Op`) of running ``generator`` with ``concurrency`` client
    threads (plus the nemesis thread if ``nemesis``), randomness from ``random.Random(seed)``.

    Bounded: stops after ``max_ops`` invocations or ``max_time`` simulated seconds, leaving in-flight ops without
    completions (legal: they count as info). Raises GeneratorError when the generator is pending forever with
    nothing running (a generator bug the real interpreter would only be able to poll).
    """
    rng = random.Random(seed)
    sched = Scheduler(generator, concurrency=concurrency, nemesis=nemesis, rng=rng,
                      deadline=None if time_limit is None else int(time_limit * NS))
    lat = latency if callable(latency) else (lambda op, _l=int(latency): _l)
    heap: list = []  # (due ns, seq, op, process)
    ops: list[Op] = []
    seq = 0
    now = 0
    end = int(max_time * NS)
    invoked = 0
    while True:
        while heap and heap[0][0] <= now:
            _, _, gop, process = heapq.heappop(heap)
            c = complete(gop)
            ev = Op(len(ops), now, process, c.type, gop.f, c.value, None, gop.key, c.error)
            ops.append(ev)
            sched.completed(ev, now)
        x = sched.next(now)
        if type(x) is GenOp:
            if invoked >= max_ops:
                break
            ev = Op(len(ops), now, x.process, "invoke", x.f, x.value, None, x.key, None)
            ops.append(ev)
            sched.started(x, ev, now)
            invoked += 1
            d = int(lat(x))
            if d < 0:
                raise GeneratorError(f"negative simulated latency {d} for {x!r}")
            seq += 1
            heapq.heappush(heap, (now + d, seq, x, x.process))
            continue
        if x is DONE:
            break
        if sched.stuck:
            raise GeneratorError(f"the generator is pending forever at {now / NS:.3f} s with nothing running")
        wake = heap[0][0] if heap else None
        if x is not None and (wake is None or x < wake):
            wake = x
        if wake is None:
            raise GeneratorError("nothing to wait for")  # unreachable: outstanding ops are always in the heap
        if wake > end:
            break
        now = wake if wake > now else now + 1  # a wake-up in the past must still move time on
    return ops
