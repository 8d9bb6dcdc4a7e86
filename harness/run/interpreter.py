"""The interpreter: runs a pure generator against real workers in real time, recording every op in the history.

One asyncio task per thread (client threads ``0..C-1`` and ``"nemesis"``) calls its worker; the main loop asks
the generator for ops (through :class:`splitbrain.harness.generator.Scheduler`, the same state machine the simulator runs),
hands them to idle threads, and sleeps until an op is due or a completion arrives. Every completion is fed back to
the generator.

What it guarantees:

- Every op is recorded as an invoke *before* its worker is called, and as exactly one completion (ok/fail/info)
  after it returns; the completion is recorded by the thread's task the moment the worker returns, so its time is
  accurate. Invokes still running when the run is cancelled (Ctrl-C) or abandoned stay without a completion:
  that is legal and means ``info``.
- Process ids follow Jepsen's rules: thread t starts as process t; after an ``info`` the thread continues as
  process + C; a retired id is never used again. The nemesis thread is always process ``"nemesis"``.
- A worker that raises gives an ``info`` completion carrying the error (on the nemesis thread too); the run goes
  on. A deadline is enforced only when the op carries one (``GenOp.timeout``): workers enforce their own.

What it must not do: block the event loop, reuse a retired process id, record a completion without its invoke, or
swallow cancellation (it cleans up, then re-raises ``CancelledError``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time as _time
from dataclasses import dataclass
from typing import Any, Callable

from splitbrain.harness.api import Completion, Invocation
from splitbrain.harness.client_errors import completion_for_error
from splitbrain.harness.generator.core import NEMESIS, NS, GenOp
from splitbrain.harness.generator.scheduler import DONE, Scheduler
from splitbrain.history.errors import SplitbrainError
from splitbrain.history.ops import COMPLETIONS, HistoryWriter

log = logging.getLogger(__name__)

#: Shortest sleep when the generator names a wake-up time that is already past (protects against a busy loop).
_MIN_WAIT_S = 0.001


@dataclass
class Stats:
    """What a run did. ``abandoned`` counts ops still running when the run ended (cancelled, or past the drain
    timeout); they have an invoke and no completion in the history."""

    invoked: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    abandoned: int = 0
    elapsed: float = 0.0
    cancelled: bool = False

    @property
    def completed(self) -> int:
        return self.ok + self.fail + self.info

    @property
    def ops_per_s(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def to_dict(self) -> dict:
        return {"invoked": self.invoked, "ok": self.ok, "fail": self.fail, "info": self.info,
                "abandoned": self.abandoned, "elapsed": round(self.elapsed, 3), "cancelled": self.cancelled}


def _node_name(worker) -> str | None:
    """The node a worker talks to, for the history's ``node`` field (a name, a NodeAddress, or nothing)."""
    node = getattr(worker, "node", None)
    if node is None or isinstance(node, str):
        return node
    name = getattr(node, "name", None)
    return name if isinstance(name, str) else None


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


class Interpreter:
    """One run. Use :func:`run` unless you need ``stats`` after a cancellation."""

    def __init__(self, generator, *, workers: dict, history: HistoryWriter, rng: random.Random, concurrency: int,
                 time_limit: float | None = None, on_event: Callable[[Any], None] | None = None,
                 drain_timeout: float = 60.0):
        expected = set(range(concurrency))
        clients = {t for t in workers if t != NEMESIS}
        if clients != expected:
            raise SplitbrainError(f"workers must be keyed by client threads 0..{concurrency - 1} (plus \"nemesis\"),"
                                  f" got {sorted(map(str, workers))}")
        self.concurrency = concurrency
        self.history = history
        self.on_event = on_event
        self.drain_timeout = drain_timeout
        self.time_limit = time_limit
        self.stats = Stats()
        has_nemesis = NEMESIS in workers
        self._gen = generator
        self._rng = rng
        self._has_nemesis = has_nemesis
        # Indexed by thread bit: client t is bit t, the nemesis bit C (see splitbrain.harness.generator.core).
        self._workers = [workers.get(b if b < concurrency else NEMESIS) for b in range(concurrency + 1)]
        self._nodes = [_node_name(w) if w is not None else None for w in self._workers]
        self._done: collections.deque = collections.deque()
        self._wake: asyncio.Future | None = None
        self._inbox: list[asyncio.Future | None] = [None] * (concurrency + 1)
        self._fatal: BaseException | None = None

    # -- the thread tasks ---------------------------------------------------------------------------------------
    def _notify(self) -> None:
        w = self._wake
        if w is not None and not w.done():
            w.set_result(None)

    def _emit(self, rec) -> None:
        cb = self.on_event
        if cb is not None:
            try:
                cb(rec)
            except Exception:  # a progress display must never stop the run or kill a thread's task
                log.exception("on_event callback failed")

    async def _thread(self, bit: int, worker, loop) -> None:
        history, stats, node, inbox, done = self.history, self.stats, self._nodes[bit], self._inbox, self._done
        record, invoke, new_future = history.record, worker.invoke, loop.create_future
        while True:
            op = await inbox[bit]
            process = op.process
            inv = Invocation(op.f, op.value, op.key)
            try:
                if op.timeout is None:
                    c = await invoke(process, inv)
                else:
                    async with asyncio.timeout(op.timeout):
                        c = await invoke(process, inv)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                c = completion_for_error("timeout", op.f, f"no completion within the op's {op.timeout} s deadline")
            except Exception as e:
                log.warning("worker for thread %s raised on %s: %s", self._nodes[bit] or bit, op.f, _short(e),
                            exc_info=log.isEnabledFor(logging.DEBUG))
                c = Completion("info", None, f"worker raised {_short(e)}")
            try:
                ctype = getattr(c, "type", None)
                if ctype not in COMPLETIONS:
                    c = Completion("info", None, f"worker returned {c!r}, not a completion")
                    ctype = "info"
                answered = getattr(c, "node", None)
                rec = record(process, ctype, op.f, c.value, node=node, key=op.key, error=c.error,
                             answered_by=answered if answered != node else None)
                if ctype == "ok":
                    stats.ok += 1
                elif ctype == "fail":
                    stats.fail += 1
                else:
                    stats.info += 1
                # The next inbox must exist before the main loop can learn this thread is free.
                inbox[bit] = new_future()
                done.append(rec)
                if self.on_event is not None:
                    self._emit(rec)
            except BaseException as e:  # the history can't be written: the run can't go on
                self._fatal = e
                self._notify()
                raise
            w = self._wake
            if w is not None and not w.done():
                w.set_result(None)

    # -- the main loop ------------------------------------------------------------------------------------------
    async def _wait(self, loop, delay: float | None) -> None:
        fut = loop.create_future()
        self._wake = fut
        handle = None if delay is None else loop.call_later(max(delay, _MIN_WAIT_S), self._notify)
        try:
            await fut
        finally:
            self._wake = None
            if handle is not None:
                handle.cancel()

    async def run(self) -> Stats:
        loop = asyncio.get_running_loop()
        history, stats, done = self.history, self.stats, self._done
        now = history.now
        t_start = _time.monotonic()
        start_ns = now()
        deadline = None if self.time_limit is None else start_ns + int(self.time_limit * NS)
        sched = Scheduler(self._gen, concurrency=self.concurrency, nemesis=self._has_nemesis, rng=self._rng,
                          deadline=deadline)
        inbox = self._inbox
        tasks = []
        for bit, w in enumerate(self._workers):
            if w is not None:
                inbox[bit] = loop.create_future()
                tasks.append(asyncio.create_task(self._thread(bit, w, loop), name=f"splitbrain-thread-{bit}"))
        nodes, record, conc = self._nodes, history.record, self.concurrency
        drain_deadline = None
        try:
            while True:
                if self._fatal is not None:
                    raise self._fatal
                t = now()
                while done:
                    sched.completed(done.popleft(), t)
                x = sched.next(t)
                if type(x) is GenOp:
                    p = x.process
                    bit = p % conc if type(p) is int else conc
                    # Stamped by the writer, not with t: someone else may share the writer (from another
                    # thread), and only the writer's own clock keeps history time monotonic.
                    rec = record(p, "invoke", x.f, x.value, node=nodes[bit], key=x.key)
                    stats.invoked += 1
                    sched.started(x, rec, t)
                    inbox[bit].set_result(x)
                    if self.on_event is not None:
                        self._emit(rec)
                    continue
                if x is DONE:
                    break
                if done:
                    continue
                if sched.exhausted:
                    # Nothing new will start; the ops in flight get drain_timeout to finish (workers bound their
                    # own time, this bounds a worker that doesn't).
                    if drain_deadline is None:
                        drain_deadline = t + int(self.drain_timeout * NS)
                    if t >= drain_deadline:
                        log.warning("%d op(s) still running %.0f s after the generator ended; leaving them without "
                                    "completion (they count as info)", sched.outstanding, self.drain_timeout)
                        break
                    x = drain_deadline
                await self._wait(loop, None if x is None else (x - t) / NS)
        except asyncio.CancelledError:
            stats.cancelled = True
            raise
        finally:
            for task in tasks:
                task.cancel()
            # Let each task see its cancellation (their workers' invokes are abandoned, not completed).
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError) \
                        and r is not self._fatal:
                    log.error("a thread task failed: %s", _short(r))
            stats.abandoned = stats.invoked - stats.completed
            stats.elapsed = _time.monotonic() - t_start
        return stats


async def run(generator, *, workers: dict, history: HistoryWriter, rng: random.Random, concurrency: int,
              time_limit: float | None = None, on_event: Callable[[Any], None] | None = None,
              drain_timeout: float = 60.0) -> Stats:
    """Run ``generator`` to exhaustion (or for ``time_limit`` seconds: no op starts after it) with one task per
    entry of ``workers`` (client threads ``0..concurrency-1``, optionally ``"nemesis"``), recording into
    ``history`` and calling ``on_event(op)`` for each recorded op. Ops still running ``drain_timeout`` seconds
    after the last one started are abandoned (left without completion). Returns the Stats. On cancellation, the
    thread tasks are cancelled and ``CancelledError`` propagates; the history stays valid."""
    interp = Interpreter(generator, workers=workers, history=history, rng=rng, concurrency=concurrency,
                         time_limit=time_limit, on_event=on_event, drain_timeout=drain_timeout)
    return await interp.run()
