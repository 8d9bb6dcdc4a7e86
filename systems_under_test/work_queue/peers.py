"""Calls to peers: a small pool of JSON-lines connections per peer, one request in flight per connection.

``call`` returns the peer's reply or raises ``PeerError``; it never blocks past its ``timeout`` (a connect that
hangs behind a partition is bounded too). A connection that failed or timed out is closed, never reused, so a late
reply cannot be taken for another call's. After a refused or timed-out connect the peer is skipped for ``backoff``
seconds, so a dead peer costs a request nothing.
"""

from __future__ import annotations

import asyncio
import json
import time


class PeerError(Exception):
    pass


class Peer:
    def __init__(self, name: str, addr: tuple[str, int], *, backoff: float = 0.2):
        self.name, self.addr, self.backoff = name, addr, backoff
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._down_until = 0.0
        self._ids = 0

    async def call(self, msg: dict, timeout: float) -> dict:
        if time.monotonic() < self._down_until:
            raise PeerError(f"{self.name} unreachable (recent failure)")
        conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                try:
                    conn = await asyncio.wait_for(asyncio.open_connection(*self.addr, limit=2**24), timeout)
                except (OSError, asyncio.TimeoutError) as e:
                    self._down_until = time.monotonic() + self.backoff
                    raise PeerError(f"connect to {self.name}: {type(e).__name__}") from None
            reader, writer = conn
            self._ids += 1
            rid = self._ids
            writer.write((json.dumps({**msg, "id": rid}, separators=(",", ":")) + "\n").encode())
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                raise PeerError(f"{self.name} closed the connection")
            reply = json.loads(line)
            if reply.get("id") != rid:
                raise PeerError(f"{self.name}: reply to another request")
        except (OSError, asyncio.TimeoutError, ValueError, PeerError) as e:
            if conn is not None:
                conn[1].transport.abort()
            raise e if isinstance(e, PeerError) else PeerError(f"{self.name}: {type(e).__name__}") from None
        except asyncio.CancelledError:
            if conn is not None:
                conn[1].transport.abort()
            raise
        self._idle.append(conn)
        return reply
