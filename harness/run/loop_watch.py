"""Watching the run's event loop for code that blocks it, and saying where.

Every client, the op deadlines and the recording of completions share one asyncio loop. A client that makes a
blocking call inside ``async def invoke`` (a synchronous driver, ``time.sleep``, a socket without timeout to a
paused node) stops all of them: op timeouts can't fire, and the history's times stretch. Nothing can preempt such a
call, so :class:`LoopWatch` makes it visible instead: a heartbeat on the loop and a thread that notices when the
heartbeat stops for longer than ``threshold`` seconds. It then takes the loop thread's stack at that moment (the
innermost frames outside Python's standard library name the blocking call) and logs one warning for the stall;
when the loop moves again, the stall's length is known and it is kept in ``stalls`` (and handed to ``on_stall``).

Must not: slow the loop (one wake-up every ``poll`` seconds), or outlive the ``async with`` block.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import sysconfig
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

_HARNESS = str(Path(__file__).resolve().parent.parent) + "/"  # the harness package: the run's own frames
_STDLIB = tuple(str(Path(p).resolve()) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})


def _in_stdlib(filename: str) -> bool:
    path = str(Path(filename).resolve())
    return path.startswith(_STDLIB) and "-packages" not in path  # site-/dist-packages are libraries, not Python


@dataclass(frozen=True)
class Stall:
    """The loop did not run for ``seconds`` (at least); ``where`` is the blocking call as the stack showed it."""

    seconds: float
    where: str


def blocking_call(frame) -> str:
    """Where ``frame``'s stack blocks, as ``file:line in function`` joined by `` <- `` (innermost first): the frames
    outside Python's standard library above the harness's own (the client's code, and the library it called),
    the two innermost and the outermost of them when there are more; the innermost frame when there are none."""
    stack = list(reversed(traceback.extract_stack(frame)))
    theirs = []
    for f in stack:
        if _in_stdlib(f.filename):
            continue
        if str(Path(f.filename).resolve()).startswith(_HARNESS):
            break
        theirs.append(f)
    picked = (theirs[:2] + theirs[-1:] if len(theirs) > 3 else theirs) or stack[:1]
    return " <- ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in picked)


class LoopWatch:
    """``async with LoopWatch():`` around the part of a run whose loop must keep turning (see the module doc)."""

    def __init__(self, threshold: float = 2.0, poll: float = 0.1, on_stall: Callable[[Stall], None] | None = None):
        self.threshold = threshold
        self.poll = poll
        self.on_stall = on_stall
        self.stalls: list[Stall] = []
        self._tick = time.monotonic()
        self._done = threading.Event()
        self._beat: asyncio.Task | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread = 0

    async def __aenter__(self) -> "LoopWatch":
        self._loop_thread = threading.get_ident()
        self._tick = time.monotonic()
        self._beat = asyncio.create_task(self._heartbeat(), name="splitbrain-loop-heartbeat")
        self._thread = threading.Thread(target=self._watch, name="splitbrain-loop-watch", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc) -> None:
        self._done.set()
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    async def _heartbeat(self) -> None:
        while True:
            self._tick = time.monotonic()
            await asyncio.sleep(self.poll)

    def _watch(self) -> None:
        where = None       # the current stall's blocking call, once it passed the threshold
        since = 0.0        # the heartbeat that the current stall started after
        while not self._done.wait(self.poll):
            tick = self._tick
            if where is not None and tick != since:  # the loop moved again: the stall is over
                self._record(Stall(round(tick - since, 3), where))
                where = None
            elif where is None and time.monotonic() - tick > self.threshold:
                frame = sys._current_frames().get(self._loop_thread)
                where = blocking_call(frame) if frame is not None else "unknown (the loop's thread is gone)"
                since = tick
                log.warning("the run's event loop has been blocked for %.1f s, in %s: no op can start, time out or "
                            "complete meanwhile. A client must not block in async code: use asyncio I/O, or "
                            "asyncio.to_thread for a blocking driver", time.monotonic() - tick, where)
        if where is not None:
            self._record(Stall(round(time.monotonic() - since, 3), where))

    def _record(self, stall: Stall) -> None:
        self.stalls.append(stall)
        if self.on_stall is not None:
            try:
                self.on_stall(stall)
            except Exception:  # a full disk must not kill the watch; the warning was logged already
                log.exception("recording a loop stall failed")
