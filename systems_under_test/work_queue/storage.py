"""The durable record of one node: every change to its messages, one JSON object per line, fsync'd.

``append`` writes the records and returns once they are on disk: the caller replies only after that. The fsync
runs on the event loop on purpose (nodes run under libfaketime, where hand-offs to threads stall); it costs well
under a millisecond here. ``replay`` returns the records in file order and drops a torn last line (the process
died mid-write; nobody was told that write happened). The file only grows: runs are short.
"""

from __future__ import annotations

import json
import os


class Journal:
    def __init__(self, path: str, fsync: bool = True):
        self.path, self.fsync = path, fsync
        try:
            with open(path, "rb+") as f:  # cut a torn tail before appending after it
                data = f.read()
                if data and not data.endswith(b"\n"):
                    f.truncate(data.rfind(b"\n") + 1)
        except FileNotFoundError:
            pass
        self._file = open(path, "a", encoding="utf-8")

    def append(self, *records: dict) -> None:
        for r in records:
            self._file.write(json.dumps(r, separators=(",", ":")) + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    @staticmethod
    def replay(path: str) -> list[dict]:
        try:
            with open(path, "rb") as f:
                lines = f.read().split(b"\n")
        except FileNotFoundError:
            return []
        out = []
        for i, raw in enumerate(lines):
            if raw.strip():
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    if i != len(lines) - 1:
                        raise
        return out

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
