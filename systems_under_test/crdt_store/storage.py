"""The durable log of one replica: every update it made or delivered, one JSON object per line, fsync'd.

``write`` appends and flushes to the OS (so a SIGKILL loses nothing written); ``sync`` makes everything written so far
durable, and concurrent callers share one fsync (group commit) run off the event loop. ``replay`` returns the records
in file order and drops a torn last line (the process died mid-write). The log only grows (no compaction): runs are
bounded in time, and a full replay on restart takes well under a second for the sizes tests use.
"""

from __future__ import annotations

import asyncio
import json
import os


class UpdateLog:
    def __init__(self, path: str):
        self.path = path
        _cut_torn_tail(path)
        self._file = open(path, "a", encoding="utf-8")
        self._written = 0
        self._synced = 0
        self._lock = asyncio.Lock()

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self._written += 1

    async def sync(self) -> None:
        target = self._written
        async with self._lock:
            if self._synced >= target:
                return  # someone else's fsync covered our write
            n = self._written
            await asyncio.to_thread(os.fsync, self._file.fileno())
            self._synced = n

    @staticmethod
    def replay(path: str) -> list[dict]:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        out = []
        for i, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                out.append(json.loads(raw))
            except ValueError:
                if i == len(lines) - 1:
                    break  # torn last line: the write never completed, so nobody was told it happened
                raise
        return out

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def _cut_torn_tail(path: str) -> None:
    """Drop a partial last line before appending, so a torn write never ends up in the middle of the log."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass
