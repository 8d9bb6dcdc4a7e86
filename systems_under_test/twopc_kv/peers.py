"""Links from one node to its peers: one multiplexed JSON-lines connection per peer, on the peer's only port (a
copy of quorum_kv's: shipped systems share no code, see docs/ARCHITECTURE.md).

A call sends ``{"id": N, "type": "peer-...", ...}`` and waits for the reply with the same id; many calls share the
connection and replies may come back in any order. Contract:

- ``call`` raises :class:`PeerDown` when nothing was sent (the peer refused a connection recently, or its send
  buffer is full because it stopped reading), and ``PeerFailed`` when the request may have been delivered (the
  connection broke or the deadline passed). It never blocks past its ``timeout``.
- A late reply to a call that gave up is dropped, never handed to another call.
- After a failed connect the link stays down for ``backoff`` seconds, so a dead peer costs each request nothing
  instead of a connect attempt; a peer that comes back is used again after at most that long.
- A peer that stops reading (SIGSTOP) must not make this node buffer without bound: past ``max_buffer`` bytes of
  unsent data the connection is dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time

log = logging.getLogger(__name__)


class PeerDown(Exception):
    """Nothing was sent: the peer is known unreachable right now."""


class PeerFailed(Exception):
    """The request may have reached the peer, but no reply arrived (connection lost or deadline passed)."""


def _expire(fut: asyncio.Future, name: str) -> None:
    if not fut.done():
        fut.set_exception(PeerFailed(f"{name}: no reply in time"))


class PeerLink:
    def __init__(self, name: str, host: str, port: int, *, connect_timeout: float = 0.5, backoff: float = 0.2,
                 max_buffer: int = 8 * 2**20):
        self.name, self.host, self.port = name, host, port
        self.connect_timeout = connect_timeout
        self.backoff = backoff
        self.max_buffer = max_buffer
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._connecting: asyncio.Future | None = None
        self._down_until = 0.0
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}

    def known_down(self) -> bool:
        """True while a recent failure says a call would not even be sent."""
        return time.monotonic() < self._down_until

    async def _connect(self) -> asyncio.StreamWriter:
        if self._writer is not None:
            return self._writer
        if self.known_down():
            raise PeerDown(f"{self.name} is unreachable (recent failure)")
        if self._connecting is None:  # one connect attempt shared by all concurrent callers
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._connect_done)
        # shield: a caller giving up must not cancel the attempt the others are waiting on
        return await asyncio.shield(self._connecting)

    def _connect_done(self, fut: asyncio.Future) -> None:
        if self._connecting is fut:
            self._connecting = None
        if not fut.cancelled():
            fut.exception()  # retrieved here, so an attempt every caller gave up on does not warn

    async def _open(self) -> asyncio.StreamWriter:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=2**24), self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as e:
            self._down_until = time.monotonic() + self.backoff
            raise PeerDown(f"{self.name}: connect failed: {type(e).__name__}") from e
        self._writer = writer
        self._reader_task = asyncio.ensure_future(self._read_replies(reader, writer))
        return writer

    async def _read_replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    reply = json.loads(line)
                except ValueError:
                    log.warning("%s sent a malformed reply; dropping the connection", self.name)
                    break
                fut = self._waiting.pop(reply.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._drop(writer, "connection lost")

    def _drop(self, writer: asyncio.StreamWriter, why: str) -> None:
        """Forget the connection and fail every call still waiting on it."""
        if self._writer is writer:
            self._writer = None
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(PeerFailed(f"{self.name}: {why}"))
            self._waiting.clear()
        writer.transport.abort()

    async def call(self, msg: dict, timeout: float) -> dict:
        """Send ``msg`` and return the peer's reply dict (which may be an error reply)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        writer = self._writer
        if writer is None:
            try:
                writer = await asyncio.wait_for(self._connect(), max(timeout, 0.001))
            except asyncio.TimeoutError as e:
                raise PeerDown(f"{self.name}: connect timed out") from e
        if writer.transport.get_write_buffer_size() > self.max_buffer:
            # the peer stopped reading; everything queued is suspect now, so start over later
            self._down_until = time.monotonic() + self.backoff
            self._drop(writer, "send buffer full (peer not reading)")
            raise PeerDown(f"{self.name}: not reading")
        rid = next(self._ids)
        fut = loop.create_future()
        self._waiting[rid] = fut
        # a timer instead of wait_for: this is the hot path, and wait_for costs an extra task and future per call
        timer = loop.call_at(deadline, _expire, fut, self.name)
        try:
            writer.write((json.dumps({**msg, "id": rid}, separators=(",", ":")) + "\n").encode())
            return await fut
        finally:
            timer.cancel()
            self._waiting.pop(rid, None)

    async def close(self) -> None:
        if self._writer is not None:
            self._drop(self._writer, "closing")
        if self._reader_task is not None:
            self._reader_task.cancel()
