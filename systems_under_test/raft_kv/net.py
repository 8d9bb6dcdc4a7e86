"""Peer links: one outbound TCP connection per peer that carries one-way JSON-lines messages.

Raft tolerates lost and duplicated messages, so a link queues only while it connects: ``send`` writes to the socket
if it is connected and its kernel-side backlog is small; when it is not connected it keeps the message (at most
``MAX_QUEUED``) for the connection being made, or drops it if the caller asked for no queueing. A failed connect
drops what was queued. A started link (``start``) keeps itself connected: it connects at once and again whenever
the connection ends (a pause between attempts to a dead peer); a link not started connects when a send needs it.
Why: a peer that restarted used to be reached first by the message that noticed the broken connection, and
dropping it cost a candidate its one vote request of the term (every election after a restart took an extra
timeout); and a node's first answer to a peer it never wrote to went out on a connection still being made.

Partitions made with iptables DROP leave TCP connections silently dead; ``TCP_USER_TIMEOUT`` makes the kernel
abort one whose data stays unacknowledged for a second, so a healed partition is followed by a fresh connection
rather than a retransmission backoff of minutes. Must not block: nothing here awaits on the caller's path.
"""

from __future__ import annotations

import asyncio
import json
import socket

MAX_BACKLOG = 8 * 1024 * 1024
MAX_QUEUED = 256
USER_TIMEOUT_MS = 1000


def tune_socket(sock: socket.socket | None, *, user_timeout: bool) -> None:
    """Low latency; dead connections noticed within seconds (keepalive for idle readers)."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        if user_timeout:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
    except (OSError, AttributeError):  # not Linux: the defaults still work, only slower to notice
        pass


def encode(msg: dict) -> bytes:
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode()


class PeerLink:
    def __init__(self, peer: str, host: str, port: int, connect_timeout: float = 0.5):
        self.peer, self.host, self.port = peer, host, port
        self.connect_timeout = connect_timeout
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._queued: list[bytes] = []   # for the connection being made
        self._persistent = False
        self.dropped = 0

    def start(self) -> None:
        """Keep this link connected from now on (until ``close``)."""
        self._persistent = True
        self._ensure_connecting()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    def send(self, msg: dict, queue: bool = True) -> bool:
        """Write ``{"type": "peer", "m": msg}`` now, queue it for the connection being made (``queue``), or drop
        it. True means it reached the socket or the queue (it may still be lost); False means it certainly was not
        sent."""
        w = self._writer
        if w is None or w.is_closing():
            self._writer = None
            self._ensure_connecting()
            if queue and len(self._queued) < MAX_QUEUED:
                self._queued.append(encode({"type": "peer", "m": msg}))
                return True
            self.dropped += 1
            return False
        if w.transport.get_write_buffer_size() > MAX_BACKLOG:
            self.dropped += 1
            return False
        w.write(encode({"type": "peer", "m": msg}))
        return True

    def _ensure_connecting(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._connect_once()
            if not self._persistent:
                return

    async def _connect_once(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                    self.connect_timeout)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.05)  # keeps reconnect attempts to a dead peer at a modest rate
            self.dropped += len(self._queued)  # also what came during the pause: no connection was made for it
            self._queued = []
            return
        tune_socket(writer.get_extra_info("socket"), user_timeout=True)
        queued, self._queued = self._queued, []
        for data in queued:
            writer.write(data)
        self._writer = writer
        try:
            # The peer never writes here: EOF or an error means the connection is gone.
            await reader.read()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
