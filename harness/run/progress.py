"""Live progress of a run: elapsed, ops/s, ok/fail/info, faults active. A rich live line on a terminal, a plain line
every few seconds otherwise (CI logs, pipes). Fed by the interpreter's per-op callback; cheap per op.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from splitbrain.history.ops import INVOKE, NEMESIS, Op


class Progress:
    """Counts ops as they are recorded and shows them. ``phase`` is a word for what the run is doing now."""

    def __init__(self, time_limit: float, *, stream: TextIO | None = None, interval: float = 5.0,
                 enabled: bool = True):
        self.stream = stream or sys.stderr
        self.time_limit = time_limit
        self.interval = interval
        self.enabled = enabled
        self.counts = {"ok": 0, "fail": 0, "info": 0}
        self.invoked = 0
        self.faults: set[str] = set()
        self.phase = "starting"
        self._t0 = time.monotonic()
        self._last_plain = 0.0
        self._live = None
        self._tty = enabled and self.stream.isatty()

    def start(self) -> None:
        self._t0 = time.monotonic()
        if self._tty:
            self._live = Live(self._render(), console=Console(file=self.stream), refresh_per_second=4,
                              transient=False)
            self._live.start()

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._emit(force=True)

    def on_op(self, op: Op) -> None:
        if op.process == NEMESIS:
            if op.type == INVOKE:
                if op.f == "heal-all":
                    self.faults.clear()
                elif op.f.startswith("stop-"):
                    self.faults.discard(op.f.removeprefix("stop-"))
                elif op.f.startswith("start-"):
                    self.faults.add(op.f.removeprefix("start-"))
            return
        if op.type == INVOKE:
            self.invoked += 1
        else:
            self.counts[op.type] = self.counts.get(op.type, 0) + 1
        self._emit()

    def _line(self) -> str:
        el = time.monotonic() - self._t0
        done = sum(self.counts.values())
        rate = done / el if el > 0 else 0.0
        faults = ",".join(sorted(self.faults)) or "none"
        return (f"[{self.phase}] {el:5.1f}s/{self.time_limit:g}s  {rate:7.1f} ops/s  ok {self.counts['ok']}  "
                f"fail {self.counts['fail']}  info {self.counts['info']}  faults: {faults}")

    def _render(self) -> Any:
        return Text(self._line())

    def _emit(self, force: bool = False) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(self._render())
            return
        now = time.monotonic()
        if force or now - self._last_plain >= self.interval:
            self._last_plain = now
            print(self._line(), file=self.stream, flush=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
        elif self.enabled:
            print(self._line(), file=self.stream, flush=True)
