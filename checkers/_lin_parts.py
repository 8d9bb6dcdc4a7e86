"""Running the parts (keys) of a linearizability check so that no part can starve the others.

Private module of :mod:`splitbrain.checkers.linearizable`. Contract of :func:`run_parts`: given the parts and a function that
judges one part within a :class:`~splitbrain.checkers._lin_search._Budget`, return one outcome per part that was decided or
given up on, where an outcome is ``{"valid": True}``, ``{"valid": False}`` or ``{"valid": "unknown", "cause"}``.

- **A failing part is found whenever one can be found in time.** Parts are judged in rounds under growing slices
  of search steps (each round's slice twice the last), smallest parts first: a part that exhausts its slice
  is put back for the next round, so a hard part costs the others at most a constant factor of what it gets,
  and a part that fails after ``T`` seconds alone is found after a small multiple of ``T`` whatever the order.
  (Slices restart the search rather than resume it: no suspended search holds memory, and the geometric growth
  bounds the repeated work to about half of the total.)
- **The first ``False`` ends the check.** Parts in this process stop there; parts in worker processes are
  cancelled by killing the workers. ``False`` wins over ``unknown``.
- **Workers when it pays**: after :data:`PARALLEL_AFTER_S` of work in this process, if the parts left would take
  more than :data:`PARALLEL_WHEN_LEFT_S` more at the pace so far, or some part needed larger slices, they go to
  forked workers (one per CPU) that take one (part, slice) task at a time from this process.
- **The deadline holds**: searches check it every few thousand steps; workers still busy at the deadline are
  killed (SIGKILL) at once. Parts not decided by then are ``unknown`` with the cause.

Must not: answer ``True`` for a part it did not decide; leave a worker process behind; print a traceback for a
worker it killed (workers ignore SIGINT and die silently on SIGTERM/SIGKILL).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import time
import traceback
from multiprocessing.connection import wait
from typing import Callable

from splitbrain.checkers._lin_search import Interrupted, _Budget
from splitbrain.history.verdict import UNKNOWN as VERDICT_UNKNOWN

#: Search-budget checks (each about 2,000 search steps, roughly 1-2 ms of pure-Python search) in the first slice,
#: beside a few per 2,000 events of the part.
FIRST_SLICE_CHECKS = 16
#: Each round's slice is this many times the last one's.
SLICE_GROWTH = 2
#: Work in this process after which the parts left may go to worker processes (forking costs ~10-30 ms) ...
PARALLEL_AFTER_S = 0.2
#: ... if at the pace so far they would take this much longer here (or some part needed larger slices).
PARALLEL_WHEN_LEFT_S = 3.0

#: The verdict of one part: ``judge(part_index, budget) -> True | False``; raises Interrupted when out of budget.
Judge = Callable[[int, _Budget], bool]


class OutOfSlice(Interrupted):
    """The part used up its slice of this round; it goes back in the queue with a larger one."""

    def __init__(self):
        super().__init__("slice used up")


class SliceBudget(_Budget):
    """A :class:`_Budget` that also ends a search after ``max_checks`` calls of :meth:`check`."""

    __slots__ = ("max_checks", "checks")

    def __init__(self, deadline: float | None, memory_limit_mb: int | None, max_checks: int | None):
        super().__init__(deadline, memory_limit_mb)
        self.max_checks = max_checks
        self.checks = 0

    def check(self) -> None:
        super().check()
        if self.max_checks is not None:
            self.checks += 1
            if self.checks > self.max_checks:
                raise OutOfSlice()


def _judge_once(judge: Judge, i: int, deadline, mem_mb, max_checks) -> dict:
    """One task: part ``i`` under one slice. ``{"valid": ...}``, or ``{"slice": True}`` when it needs more."""
    budget = SliceBudget(deadline, mem_mb, max_checks)
    try:
        budget.check()
        return {"valid": bool(judge(i, budget))}
    except OutOfSlice:
        return {"slice": True}
    except Interrupted as e:
        return {"valid": VERDICT_UNKNOWN, "cause": e.cause}
    except MemoryError:
        return {"valid": VERDICT_UNKNOWN, "cause": "memory limit reached"}


def run_parts(n_parts: int, sizes: list[int], judge: Judge, *, deadline: float | None,
              memory_limit_mb: int | None, parallel: bool) -> dict[int, dict]:
    """Judge parts ``0..n_parts-1`` (see the module doc); ``sizes`` orders them, smallest first. Returns
    ``{part index: outcome}`` for the parts decided or given up on; when one is False, the others that were
    still running are left out."""
    # A part's first slice covers a few passes over its events (the searches check the budget about every 2,000
    # steps, and a pass costs at least a step per event), so a long but easy part is not restarted for its length.
    first_slice = [FIRST_SLICE_CHECKS + 4 * n // 2048 for n in sizes]
    queue: list[tuple[int, int]] = [(i, first_slice[i]) for i in sorted(range(n_parts), key=lambda i: sizes[i])]
    outcomes: dict[int, dict] = {}
    started = time.monotonic()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    while queue:
        elapsed = time.monotonic() - started
        if (parallel and ncpu > 1 and len(queue) > 1 and elapsed > PARALLEL_AFTER_S
                and (elapsed / max(1, len(outcomes)) * len(queue) > PARALLEL_WHEN_LEFT_S
                     or any(c > first_slice[i] * SLICE_GROWTH ** 2 for i, c in queue) or not outcomes)):
            # Workers pay when much is left (a forked worker costs little, but each one touching the history's
            # pages copies them): many parts still to do, or parts that needed larger slices (hard ones).
            workers = min(ncpu, len(queue))
            mem = None if memory_limit_mb is None else max(1, memory_limit_mb // workers)
            outcomes.update(_run_in_workers(queue, judge, workers, deadline, mem))
            return outcomes
        i, checks = queue.pop(0)
        out = _judge_once(judge, i, deadline, memory_limit_mb, checks)
        if out.get("slice"):
            queue.append((i, checks * SLICE_GROWTH))
            continue
        outcomes[i] = out
        if out["valid"] is False:
            return outcomes
        if out["valid"] == VERDICT_UNKNOWN and out.get("cause") == "time limit reached":
            for j, _c in queue:
                outcomes[j] = {"valid": VERDICT_UNKNOWN, "cause": "time limit reached"}
            return outcomes
    return outcomes


# --- worker processes -------------------------------------------------------------------------------------------

def _worker_main(conn, judge: Judge, deadline, mem_mb) -> None:
    """A forked worker: judge (part, slice) tasks from ``conn`` until it closes. It dies quietly when killed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                return
            if task is None:
                return
            i, checks = task
            try:
                out = _judge_once(judge, i, deadline, mem_mb, checks)
            except Exception as e:  # a model that raises: unknown for this part, never valid
                out = {"valid": VERDICT_UNKNOWN, "cause": f"checker error ({type(e).__name__}: {e})",
                       "trace": traceback.format_exc(limit=5)}
            conn.send((i, checks, out))
    finally:
        conn.close()
        os._exit(0)  # skip the parent's atexit handlers and buffers inherited through fork


def _run_in_workers(queue: list[tuple[int, int]], judge: Judge, workers: int, deadline, mem_mb) -> dict[int, dict]:
    ctx = multiprocessing.get_context("fork")
    # Objects that exist now (the history: millions of ops) go to the collector's permanent generation, so the
    # workers' collections never walk them and never copy the pages they sit on (copy-on-write).
    gc.freeze()
    procs: list = []
    conns: dict = {}          # parent end -> (process, task or None)
    outcomes: dict[int, dict] = {}
    try:
        for _ in range(workers):
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(child_end, judge, deadline, mem_mb), daemon=True)
            p.start()
            child_end.close()
            procs.append(p)
            conns[parent_end] = None
        idle = list(conns)
        while queue or any(t is not None for t in conns.values()):
            while queue and idle:
                c = idle.pop()
                task = queue.pop(0)
                try:
                    c.send(task)
                    conns[c] = task
                except OSError:  # the worker is gone: its task goes back, the worker is not used again
                    queue.insert(0, task)
                    del conns[c]
            if not conns:
                for i, _c in queue:
                    outcomes[i] = {"valid": VERDICT_UNKNOWN, "cause": "worker processes failed"}
                return outcomes
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([c for c, t in conns.items() if t is not None], timeout)
            if not ready:  # the deadline passed with searches still running
                for c, t in conns.items():
                    if t is not None:
                        outcomes[t[0]] = {"valid": VERDICT_UNKNOWN, "cause": "time limit reached"}
                for i, _c in queue:
                    outcomes[i] = {"valid": VERDICT_UNKNOWN, "cause": "time limit reached"}
                return outcomes
            for c in ready:
                task = conns[c]
                try:
                    i, checks, out = c.recv()
                except (EOFError, OSError):  # killed (out of memory?) mid-task: unknown, never valid
                    outcomes[task[0]] = {"valid": VERDICT_UNKNOWN, "cause": "worker process died"}
                    del conns[c]
                    continue
                conns[c] = None
                idle.append(c)
                if out.get("slice"):
                    queue.append((i, checks * SLICE_GROWTH))
                    continue
                out.pop("trace", None)
                outcomes[i] = out
                if out["valid"] is False:
                    return outcomes
        return outcomes
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join(timeout=2)
        for c in conns:
            c.close()
        gc.unfreeze()


__all__ = ["run_parts", "SliceBudget", "OutOfSlice", "FIRST_SLICE_CHECKS", "SLICE_GROWTH", "PARALLEL_AFTER_S"]
