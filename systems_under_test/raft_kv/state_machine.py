"""The replicated state machine: registers, counters and sets by key, plus the client-session table that makes a
retried command take effect once.

``apply(command)`` is deterministic (every replica applying the same log reaches the same state) and returns the
reply body: ``{"ok": True, "value": ...}`` or ``{"ok": False, "error": "cas-mismatch", ...}``. A command carrying
``client`` and ``seq`` is applied only if ``seq`` is newer than the last one applied for that client; otherwise the
remembered reply of that sequence number is returned (Raft thesis 6.3). Clients have one request in flight, so one
remembered reply per client is enough. The session table is part of the state and of the snapshot; it is capped
(oldest sessions evicted, by a deterministic order) so long runs don't grow it without bound.

``dedup=False`` is the ``no-dedup`` variant: every copy of a retried command takes effect.
Reads go through ``read`` (no log entry: the server serves them after ReadIndex).
Keys and set elements are any JSON values; they are stored under their JSON text, so ``1`` and ``"1"`` differ.
"""

from __future__ import annotations

import json
from typing import Any

MAX_SESSIONS = 10_000


def _k(key: Any) -> str:
    return json.dumps(key, sort_keys=True)


class KVStateMachine:
    def __init__(self, dedup: bool = True):
        self.dedup = dedup
        self.registers: dict[str, Any] = {}
        self.counters: dict[str, int] = {}
        self.sets: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, list] = {}  # client -> [seq, reply]; dict order = least recently used first
        self.applied_commands = 0

    # ------------------------------------------------------------------------------------------- writes

    def apply(self, cmd: dict) -> dict:
        op = cmd.get("op")
        if op == "noop":
            return {"ok": True}
        client, seq = cmd.get("client"), cmd.get("seq")
        if self.dedup and client is not None and seq is not None:
            session = self.sessions.get(client)
            if session is not None and seq <= session[0]:
                if seq == session[0]:
                    return session[1]
                return {"ok": False, "error": "bad-request", "detail": f"stale sequence number {seq}"}
        reply = self._execute(op, cmd)
        self.applied_commands += 1
        if self.dedup and client is not None and seq is not None:
            self.sessions.pop(client, None)
            self.sessions[client] = [seq, reply]
            if len(self.sessions) > MAX_SESSIONS:
                del self.sessions[next(iter(self.sessions))]
        return reply

    def _execute(self, op: str, cmd: dict) -> dict:
        key = _k(cmd.get("key"))
        if op == "write":
            self.registers[key] = cmd.get("value")
            return {"ok": True}
        if op == "cas":
            value = cmd.get("value")
            if not (isinstance(value, list) and len(value) == 2):
                return {"ok": False, "error": "bad-request", "detail": "cas value must be [old, new]"}
            current = self.registers.get(key)
            if current != value[0]:
                return {"ok": False, "error": "cas-mismatch", "detail": f"current value is {json.dumps(current)}"}
            self.registers[key] = value[1]
            return {"ok": True}
        if op == "counter-add":
            delta = cmd.get("value")
            if not isinstance(delta, int) or isinstance(delta, bool):
                return {"ok": False, "error": "bad-request", "detail": "counter-add needs an integer value"}
            self.counters[key] = self.counters.get(key, 0) + delta
            return {"ok": True}
        if op == "set-add":
            self.sets.setdefault(key, {})[_k(cmd.get("value"))] = cmd.get("value")
            return {"ok": True}
        return {"ok": False, "error": "bad-request", "detail": f"unknown command {op!r}"}

    # ------------------------------------------------------------------------------------------- reads

    def read(self, kind: str, key: Any) -> Any:
        k = _k(key)
        if kind == "read":
            return self.registers.get(k)
        if kind == "counter-read":
            return self.counters.get(k, 0)
        if kind == "set-read":
            return list(self.sets.get(k, {}).values())
        raise ValueError(kind)

    # ------------------------------------------------------------------------------------------- snapshots

    def snapshot(self) -> dict:
        """A JSON-able copy of the whole state (sessions included: dedup must survive compaction)."""
        return {"registers": dict(self.registers), "counters": dict(self.counters),
                "sets": {k: list(v.values()) for k, v in self.sets.items()},
                "sessions": [[c, s[0], s[1]] for c, s in self.sessions.items()],
                "applied_commands": self.applied_commands}

    def restore(self, data: dict | None) -> None:
        data = data or {}
        self.registers = dict(data.get("registers", {}))
        self.counters = dict(data.get("counters", {}))
        self.sets = {k: {_k(v): v for v in vs} for k, vs in data.get("sets", {}).items()}
        self.sessions = {c: [seq, reply] for c, seq, reply in data.get("sessions", [])}
        self.applied_commands = data.get("applied_commands", 0)
