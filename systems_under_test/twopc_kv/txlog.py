"""The node's durable log: one JSON object per line in ``txlog.jsonl``, appended and fsynced before the caller
goes on (a vote yes, a commit ack, a decision sent to anyone is a promise that must survive kill -9).

Records: ``{"t": "prepare", "tx", "coord", "writes": [[key, value], ...]}`` (participant, before voting yes),
``{"t": "commit", "tx"}`` / ``{"t": "abort", "tx"}`` (participant, the outcome applied) and ``{"t": "decision",
"tx", "commit": bool}`` (coordinator, before telling anyone). ``replay`` rebuilds the committed data, the prepared
transactions still in doubt and the coordinator's decisions. A torn last line (a crash mid-append, never
acknowledged) is ignored. The fsync runs on the event loop thread: nodes run under libfaketime, where thread
hand-offs stall (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import os

LOG = "txlog.jsonl"


class TxLog:
    def __init__(self, data_dir: str):
        self.path = os.path.join(data_dir, LOG)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, rec: dict, *, durable: bool = True) -> None:
        """Write one record; with ``durable`` (the default) fsync it before returning."""
        data = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        while data:
            data = data[os.write(self._fd, data):]
        if durable:
            os.fsync(self._fd)

    def replay(self) -> tuple[dict, dict, dict]:
        """``(data, in_doubt, decisions)``: key -> value of everything committed, tx -> prepare record of the
        transactions prepared with no outcome logged, tx -> the coordinator's decision (True = commit)."""
        data: dict = {}
        prepared: dict = {}
        decisions: dict = {}
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # only a torn last line can be malformed: it was never acknowledged
            t, tx = rec.get("t"), rec.get("tx")
            if t == "prepare":
                prepared[tx] = rec
            elif t == "commit":
                p = prepared.pop(tx, None)
                for k, v in (p or {}).get("writes", ()):
                    data[_key(k)] = v
            elif t == "abort":
                prepared.pop(tx, None)
            elif t == "decision":
                decisions[tx] = bool(rec.get("commit"))
        return data, prepared, decisions

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _key(k):
    """Keys come back from JSON as they went in (ints stay ints, strings strings); lists can't be keys."""
    return tuple(k) if isinstance(k, list) else k
