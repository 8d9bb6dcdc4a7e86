"""crdt-store node: N replicas of CRDTs, each always available, replicating by causal broadcast with anti-entropy.

Run: ``python -m splitbrain.systems_under_test.crdt_store.server --config FILE`` (config as in docs/ARCHITECTURE.md; extra keys
below). Stdlib only; sleeps only with ``asyncio.sleep`` (nodes run under libfaketime).

Wire protocol (one TCP port, newline-delimited JSON; every request has an ``id`` echoed in the reply;
``key`` is any JSON value and defaults to ``""``; errors are ``{"ok": false, "error": "bad-request", "detail"}``):

client requests                      reply ``value``
- ``counter-add`` {key, value: int}   the delta (PN-Counter: any sign)
- ``counter-read`` {key}              int
- ``gcounter-add`` {key, value: int}  the delta (G-Counter: a negative delta is ``bad-request``)
- ``gcounter-read`` {key}             int
- ``set-add`` / ``set-remove`` {key, value: element}   the element (OR-Set, add wins)
- ``set-read`` {key}                  sorted list of elements
- ``lww-write`` {key, value}          the value (LWW-Register; also the causal-kv store: one register per key)
- ``lww-read`` {key}                  the value, or null if never written
- ``mv-write`` {key, value}           the value (multi-value register)
- ``mv-read`` {key}                   sorted list of the concurrent values (empty if never written)
- ``state``                           every object: ``{"counter": [[key, value], ...], "gcounter", "set", "lww", "mv"}``
- ``status``                          ``{"node", "variant", "delivered": vc, "pending", "log_length", "peers"}``
- ``delivery-log`` {since?: int, limit?: int}   ``{"total": N, "entries": [{"id", "origin", "seq", "vc"}, ...]}``:
  the updates this replica delivered, in delivery order, since it (re)started (a restart replays its log first).
peer requests (between replicas)
- ``peer-hello`` {from}                ``{"delivered": vc}``: opens a replication link
- ``gossip`` {from, updates: [...]}     ``{"delivered": vc}`` after the delivered ones are durable

An update op is acknowledged once it is durable (fsync'd) and applied locally; it never waits for other replicas.
Each replica sends its own updates to every peer over a per-peer link (in seq order, one batch in flight, after an
optional random ``link_delay``). A batch that is not acknowledged within ``ack_timeout`` is dropped and the link is
re-opened with a ``peer-hello`` handshake; while a link is down, updates for it are dropped. Anti-entropy repairs
all losses: every ``anti_entropy_interval`` an idle link sends the peer every update (its own and relayed third
parties') that the peer's last reported vector clock lacks. Receivers buffer updates until causally deliverable.

Variants (the seeded bugs):
- ``correct``: as above; LWW timestamps come from a hybrid clock, ``max(wall clock, largest seen + 1)``.
- ``fifo-only``: delivery checks only per-origin order, so an update relayed or sent directly can overtake one it
  depends on (visible when links are delayed or partitioned).
- ``lww-wallclock``: LWW timestamps are the replica's wall clock alone: under clock skew a causally later write
  can lose to an earlier one.
- ``two-phase-set``: a removed element is tombstoned forever; re-adds are acknowledged and lost.
- ``no-anti-entropy``: no repair, so updates dropped while a link was down never arrive (and, through causal
  delivery, later updates of the same origin wait behind them forever).

Each node logs to stdout when a link to a peer comes up or goes down (monotonic seconds first): the evidence when
replicas converge late. A link that is down retries its TCP connect every ``RECONNECT_PAUSE`` with a short
``CONNECT_TIMEOUT``, so after a heal it is back (and runs its anti-entropy round) within about half a second.

Config extras: ``anti_entropy_interval`` (s, 0.5), ``ack_timeout`` (s, 1.0), ``link_delay`` ([min, max] s,
[0, 0]), ``link_delay_to`` ({peer: [min, max]}, overrides per peer), ``batch_limit`` (updates per gossip
message, 2000), ``fsync`` (true).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import sys
import time

from .causal import DeliveryBuffer
from .crdts import Replica
from .storage import UpdateLog

CONNECT_TIMEOUT = 0.4   # s, for a TCP connect to a peer
RECONNECT_PAUSE = 0.1   # s, between attempts: after a heal a link is back within about the two of these

VARIANTS = ("correct", "fifo-only", "lww-wallclock", "two-phase-set", "no-anti-entropy")


class BadRequest(Exception):
    pass


class PeerLink:
    """The outbound replication link to one peer. Must not block the node: all waiting is bounded by timeouts."""

    def __init__(self, node: "Node", peer: str, addr: tuple[str, int]):
        self.node, self.peer, self.addr = node, peer, addr
        self.queue: list[dict] = []
        self.wake = asyncio.Event()
        self.up = False
        self.known: dict[str, int] | None = None  # the peer's delivered vector, as last reported
        self.reader = self.writer = None
        self._ids = 0

    def enqueue(self, u: dict) -> None:
        if self.up:
            self.queue.append(u)
            self.wake.set()
        # else: dropped on purpose; only anti-entropy brings it to the peer later

    async def _request(self, msg: dict) -> dict:
        self._ids += 1
        msg["id"] = self._ids
        self.writer.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
        await self.writer.drain()
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionResetError("peer closed")
            reply = json.loads(line)
            if reply.get("id") == msg["id"]:
                if not reply.get("ok"):
                    raise ConnectionError(str(reply.get("error")))
                return reply

    def _abort(self) -> None:
        w, self.writer, self.reader = self.writer, None, None
        self.up = False
        self.queue.clear()
        if w is not None:
            try:  # RST, not FIN: unsent bytes of a batch we gave up on must not trickle out later
                w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except (OSError, AttributeError):
                pass
            w.transport.abort()

    async def _connect(self) -> None:
        # The TCP handshake is the kernel's business, so a short timeout: a SYN lost to a partition is retried
        # soon after the heal. The hello needs the peer's event loop, which may be slow under load.
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(*self.addr, limit=2**26), min(CONNECT_TIMEOUT, self.node.ack_timeout))
        reply = await asyncio.wait_for(self._request({"type": "peer-hello", "from": self.node.name}),
                                       self.node.ack_timeout)
        self.known = reply.get("delivered", {})
        self.up = True
        self.node.note(f"link to {self.peer} up")

    async def run(self) -> None:
        node = self.node
        last_ae = time.monotonic()
        while True:
            if not self.up:
                try:
                    await self._connect()
                except (OSError, asyncio.TimeoutError, ConnectionError, ValueError):
                    self._abort()
                    await asyncio.sleep(min(RECONNECT_PAUSE, node.ack_timeout))
                    continue
                last_ae = 0.0  # a link that was down has surely missed something: repair at once
            idle_for = last_ae + node.ae_interval - time.monotonic()  # until the next anti-entropy round
            if not self.queue and idle_for > 0:
                try:
                    await asyncio.wait_for(self.wake.wait(), idle_for)
                except asyncio.TimeoutError:
                    pass
            self.wake.clear()
            batch = self.queue[:node.batch_limit]
            del self.queue[:len(batch)]
            now = time.monotonic()
            due = now - last_ae >= node.ae_interval
            if due:
                # Also under steady load: updates dropped while the link was down are only repaired here.
                last_ae = now
                if node.anti_entropy and self.known is not None and len(batch) < node.batch_limit:
                    batch = batch + node.missing_for(self.known, node.batch_limit - len(batch))
                # without anti-entropy (or with nothing missing) an empty gossip is a heartbeat refreshing `known`
            elif not batch:
                continue
            lo, hi = node.link_delay_to.get(self.peer, node.link_delay)
            if hi > 0:
                await asyncio.sleep(random.uniform(lo, hi))
            try:
                reply = await asyncio.wait_for(
                    self._request({"type": "gossip", "from": node.name, "updates": batch}), node.ack_timeout)
                self.known = reply.get("delivered", self.known)
            except (OSError, asyncio.TimeoutError, ConnectionError, ValueError) as e:
                self.node.note(f"link to {self.peer} down: batch of {len(batch)} unacknowledged "
                               f"({type(e).__name__})")
                self._abort()  # the batch is lost; anti-entropy (if any) repairs it


class Node:
    def __init__(self, cfg: dict):
        self.name: str = cfg["node"]
        self.variant: str = cfg.get("variant", "correct")
        if self.variant not in VARIANTS:
            raise SystemExit(f"unknown variant {self.variant!r} (known: {', '.join(VARIANTS)})")
        self.listen = tuple(cfg["listen"])
        self.data_dir = cfg.get("data_dir") or os.getcwd()
        self.ae_interval = float(cfg.get("anti_entropy_interval", 0.5))
        self.ack_timeout = float(cfg.get("ack_timeout", 1.0))
        self.link_delay = tuple(float(x) for x in cfg.get("link_delay", (0.0, 0.0)))
        self.link_delay_to = {p: tuple(float(x) for x in d) for p, d in cfg.get("link_delay_to", {}).items()}
        self.batch_limit = int(cfg.get("batch_limit", 2000))
        self.fsync = bool(cfg.get("fsync", True))
        self.anti_entropy = self.variant != "no-anti-entropy"
        self.buffer = DeliveryBuffer(causal=self.variant != "fifo-only")
        self.state = Replica(two_phase=self.variant == "two-phase-set")
        self.by_origin: dict[str, list[dict]] = {}   # origin -> delivered updates, index seq-1
        self.delivery_log: list[dict] = []           # delivered updates in delivery order
        self.waiters: dict[str, asyncio.Future] = {}
        self.local_seq = 0
        self.links = {p: PeerLink(self, p, tuple(a)) for p, a in cfg["nodes"].items() if p != self.name}
        os.makedirs(self.data_dir, exist_ok=True)
        log_path = os.path.join(self.data_dir, "updates.jsonl")
        self._replay(UpdateLog.replay(log_path))
        self.log = UpdateLog(log_path)

    def note(self, text: str) -> None:
        """One line of the node's log (stdout), stamped with monotonic time: link changes are the evidence when
        replicas converge late."""
        print(f"{time.monotonic():.3f} {self.name}: {text}", flush=True)

    # -------------------------------------------------------------------------------------------- delivery
    def _replay(self, records: list[dict]) -> None:
        for u in records:
            if u["origin"] == self.name:
                self.local_seq = max(self.local_seq, u["seq"])
            for d in self.buffer.offer(u):
                self._deliver(d, replay=True)
        # What is still pending has unmet dependencies; peers resend it (or not, without anti-entropy).
        self.buffer.pending.clear()

    def _deliver(self, u: dict, *, replay: bool = False) -> None:
        self.state.apply(u)
        self.by_origin.setdefault(u["origin"], []).append(u)
        self.delivery_log.append(u)
        if replay:
            return
        if u["origin"] == self.name:
            fut = self.waiters.pop(u["id"], None)
            if fut is not None and not fut.done():
                fut.set_result(None)
            for link in self.links.values():  # on delivery, so each link gets our updates in seq order
                link.enqueue(u)
        else:
            self.log.write(u)  # our own updates were logged when made

    def receive(self, updates: list) -> None:
        for u in updates:
            for d in self.buffer.offer(u):
                self._deliver(d)

    def missing_for(self, known: dict[str, int], limit: int) -> list[dict]:
        """Delivered updates (any origin) that a peer with delivered vector ``known`` lacks, at most ``limit``."""
        out: list[dict] = []
        for origin, ups in self.by_origin.items():
            have = known.get(origin, 0)
            if have < len(ups):
                out.extend(ups[have:have + limit - len(out)])
                if len(out) >= limit:
                    break
        return out

    async def sync(self) -> None:
        if self.fsync:
            await self.log.sync()

    async def local_update(self, op: dict) -> None:
        """Make, log, fsync and deliver one update of our own; return once it is applied here."""
        self.local_seq += 1
        seq = self.local_seq
        vc = dict(self.buffer.delivered)
        vc[self.name] = seq
        u = {"id": f"{self.name}:{seq}", "origin": self.name, "seq": seq, "vc": vc, "op": op}
        fut = asyncio.get_running_loop().create_future()
        self.waiters[u["id"]] = fut
        self.log.write(u)
        await self.sync()
        # Offered only now: nothing anyone can read is lost by a crash. Earlier updates of ours may still be
        # finishing their fsync; the buffer delivers ours after them.
        self.receive([u])
        await fut

    def lww_ts(self) -> list:
        wall = int(time.time() * 1_000_000)
        if self.variant == "lww-wallclock":
            return [wall, self.name]
        # Hybrid clock: never behind anything already seen, so a causally later write always wins.
        ts = max(wall, self.state.max_ts + 1)
        self.state.max_ts = ts
        return [ts, self.name]

    # -------------------------------------------------------------------------------------------- requests
    async def handle(self, req: dict) -> dict:
        t = req.get("type")
        key = req.get("key", "")
        v = req.get("value")
        st = self.state
        if t in ("counter-add", "gcounter-add"):
            if not isinstance(v, int) or isinstance(v, bool):
                raise BadRequest("value must be an integer delta")
            if t == "gcounter-add" and v < 0:
                raise BadRequest("a G-Counter only grows")
            await self.local_update({"t": t.split("-")[0], "k": key, "d": v})
            return {"value": v}
        if t == "counter-read":
            return {"value": st.counter("counter", key)}
        if t == "gcounter-read":
            return {"value": st.counter("gcounter", key)}
        if t == "set-add":
            await self.local_update({"t": "set-add", "k": key, "e": v})
            return {"value": v}
        if t == "set-remove":
            await self.local_update({"t": "set-remove", "k": key, "e": v, "tags": st.set_tags(key, v)})
            return {"value": v}
        if t == "set-read":
            return {"value": st.set_read(key)}
        if t == "lww-write":
            await self.local_update({"t": "lww", "k": key, "v": v, "ts": self.lww_ts()})
            return {"value": v}
        if t == "lww-read":
            return {"value": st.lww_read(key)}
        if t == "mv-write":
            await self.local_update({"t": "mv", "k": key, "v": v, "over": st.mv_ids(key)})
            return {"value": v}
        if t == "mv-read":
            return {"value": st.mv_read(key)}
        if t == "state":
            return {"value": st.snapshot()}
        if t == "status":
            return {"node": self.name, "variant": self.variant,
                    "value": {"node": self.name, "variant": self.variant, "delivered": dict(self.buffer.delivered),
                              "pending": self.buffer.pending_count(), "log_length": len(self.delivery_log),
                              "peers": {p: {"up": l.up, "known": l.known} for p, l in self.links.items()}}}
        if t == "delivery-log":
            since = int(req.get("since", 0))
            limit = int(req.get("limit", 10_000))
            entries = [{"id": u["id"], "origin": u["origin"], "seq": u["seq"], "vc": u["vc"]}
                       for u in self.delivery_log[since:since + limit]]
            return {"value": {"total": len(self.delivery_log), "entries": entries}}
        if t == "peer-hello":
            return {"delivered": dict(self.buffer.delivered)}
        if t == "gossip":
            ups = req.get("updates")
            if not isinstance(ups, list):
                raise BadRequest("updates must be a list")
            self.receive(ups)
            await self.sync()
            return {"delivered": dict(self.buffer.delivered)}
        raise BadRequest(f"unknown request type {t!r}")

    async def serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = None
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    req = None
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise BadRequest("a request is a JSON object")
                    reply = {"id": req.get("id"), "ok": True, **await self.handle(req)}
                except (BadRequest, ValueError, KeyError, TypeError) as e:
                    rid = req.get("id") if isinstance(req, dict) else None
                    reply = {"id": rid, "ok": False, "error": "bad-request", "detail": str(e)}
                writer.write((json.dumps(reply, separators=(",", ":")) + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main(self) -> None:
        server = await asyncio.start_server(self.serve_conn, self.listen[0], self.listen[1], limit=2**26,
                                            reuse_address=True)
        tasks = [asyncio.create_task(link.run()) for link in self.links.values()]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"crdt-store {self.name} ({self.variant}) listening on {self.listen[0]}:{self.listen[1]}, "
              f"replayed {len(self.delivery_log)} updates", flush=True)
        async with server:
            await stop.wait()
        for t in tasks:
            t.cancel()
        self.log.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="crdt-store node")
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        cfg = json.load(f)
    try:
        asyncio.run(Node(cfg).main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
