"""A client for the shipped systems' wire protocol: newline-delimited JSON over TCP.

Request: ``{"id": N, "type": "<op>", ...fields}``. Reply: ``{"id": N, "ok": true, ...}`` or
``{"id": N, "ok": false, "error": "<code from splitbrain.harness.client_errors.ERRORS>", "detail": "..."}``. One request in
flight per connection (the runner's workers are single-threaded processes anyway); a reply without ``id`` answers it
(the connection is dropped after any failure, so no late reply can arrive on it), one with another id is skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from splitbrain.harness.api import Client, Completion, Invocation, NodeAddress
from splitbrain.harness.client_errors import completion_for_error, completion_for_exception


class JsonLineConnection:
    """One TCP connection speaking the JSON-lines protocol. Reconnects lazily after a failure."""

    def __init__(self, node: NodeAddress, connect_timeout: float = 2.0):
        self.node = node
        self.connect_timeout = connect_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.node.host, self.node.port, limit=2**24), self.connect_timeout)

    async def request(self, msg: dict, timeout: float) -> dict:
        """Send ``msg`` and return the reply. Raises transport exceptions (timeout, reset) to the caller, after
        dropping the connection so the next request starts on a fresh one (late replies must not be misread)."""
        try:
            if self._writer is None:
                await self.connect()
            rid = next(self._ids)
            self._writer.write((json.dumps({**msg, "id": rid}) + "\n").encode())
            await self._writer.drain()
            while True:
                line = await asyncio.wait_for(self._reader.readline(), timeout)
                if not line:
                    raise ConnectionResetError("node closed the connection")
                reply = json.loads(line)
                # A reply without "id" answers the one request in flight: a connection never carries a late reply
                # (it is dropped after any failure), so a server that does not echo ids still works.
                if not isinstance(reply, dict) or "id" not in reply or reply["id"] == rid:
                    return reply if isinstance(reply, dict) else {"ok": False, "error": "crashed",
                                                                  "detail": f"not a JSON object: {line[:200]!r}"}
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection, waiting at most 0.5 s for the transport to finish. Must not swallow the
        cancellation of the task that calls it: a close inside ``finally`` of a cancelled task re-raises it."""
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            try:
                await asyncio.wait_for(w.wait_closed(), 0.5)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # our caller was cancelled: that must reach it
            except Exception:  # noqa: BLE001 - a transport that fails to close is closed enough
                pass


class JsonLineClient(Client):
    """A generic client: maps an Invocation to a request with ``type = f``, ``key`` and ``value``, and the reply's
    ``value`` to the completion. Systems subclass it to rename ops or add fields (``to_request``/``from_reply``)."""

    def __init__(self) -> None:
        self.conn: JsonLineConnection | None = None

    async def open(self, node: NodeAddress) -> None:
        self.conn = JsonLineConnection(node)

    def to_request(self, op: Invocation) -> dict:
        req = {"type": op.f}
        if op.key is not None:
            req["key"] = op.key
        if op.value is not None:
            req["value"] = op.value
        return req

    def from_reply(self, op: Invocation, reply: dict) -> Completion:
        if reply.get("ok"):
            return Completion("ok", reply.get("value", op.value if op.f != "read" else None))
        return completion_for_error(str(reply.get("error", "crashed")), op.f, reply.get("detail"))

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        sent = False
        try:
            if self.conn._writer is None:
                await self.conn.connect()
            sent = True
            reply = await self.conn.request(self.to_request(op), timeout)
        except Exception as e:  # transport trouble -> the error table decides
            return completion_for_exception(e, op.f, sent=sent)
        return self.from_reply(op, reply)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
