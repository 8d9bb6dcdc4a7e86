"""chat node: rooms whose messages every node delivers, spread by the broadcast algorithm of the variant.

Run: ``python -m splitbrain.systems_under_test.chat.server --config FILE`` (config as in docs/ARCHITECTURE.md; extras below).
Stdlib only; sleeps only with ``asyncio.sleep`` and fsyncs on the event loop (nodes run under libfaketime).

A node *delivers* a message when it appends it to its delivery journal (fsync) and so to what reads return; a
read returns a room's messages in this node's delivery order, which never changes once returned (the journal is
replayed on restart). A post is answered once the message is delivered at the node it was posted to.

Variants (the broadcast algorithm; "claims" is what a checker should hold it to):

- ``total-order`` (claims FIFO-total order): a sequencer. Every post is forwarded to the sequencer node (config
  ``sequencer``, default the first node by name), which numbers it, journals it and delivers it; the others pull the
  sequencer's log in order. The sequencer has no stand-in: killed, it restarts from its journal and the order goes
  on; while it is down or cut off, posts fail (``unavailable`` when nothing was sent, else ``timeout``).
- ``causal`` (claims causal order): vector clocks. A post carries the sender's delivered clock; a node delivers a
  message once it has delivered everything the clock names. Each node pushes its own messages to every peer at
  once, and every ``ae_interval`` sends each peer whatever the peer's last reported clock lacks (any origin's):
  that anti-entropy retransmits what a partition or a kill dropped.
- ``fifo-only`` (bug, for a causal claim): as causal, but delivery checks only the sender's own sequence, so a
  message can overtake one its sender had delivered first.
- ``no-retransmit`` (bug, for any claim): causal delivery, but each message is sent to each peer once, right after
  the post; a send lost to a partition is never repeated (and later messages of that sender wait behind it).
- ``gossip`` (claims reliable delivery: validity and agreement after the heal, no order): every ``gossip_interval``
  a node sends one random peer whatever that peer lacks; messages are delivered as they arrive.

Wire protocol (one TCP port, newline-delimited JSON; ``id`` echoed; errors ``{"ok": false, "error", "detail"}``):

client requests                        reply ``value``
- ``post`` {room, value}                the value (``value`` must be unique: it is the message's identity)
- ``read`` {room}                       the room's messages (values) in this node's delivery order
- ``read-all`` {rooms: [...]}           ``[[room, [values...]], ...]``
- ``status``                            ``{"node", "variant", "delivered", "clock", "pending", "sequencer"?}``
peer requests
- ``push`` {msgs: [...]}                ``{"clock": {origin: n}}``: per origin, how many it delivered in a row
- ``sequence`` {msg}                    ``{"gseq": n}`` (total-order, at the sequencer)
- ``log`` {since}                       the sequencer's messages from position ``since`` (at most ``PAGE``)

Config extras: ``sequencer``, ``link_delay`` ([min, max] s before each push, [0, 0.05]), ``sync_interval`` (s, 0.05:
how often links and followers look for work), ``ae_interval`` (s, 0.5), ``gossip_interval`` (s, 0.1),
``rpc_timeout`` (s, 0.5), ``fsync`` (true).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time

from .peers import Peer, PeerDown, PeerError
from .storage import Journal

VARIANTS = ("total-order", "causal", "fifo-only", "no-retransmit", "gossip")
PAGE = 500   # messages per push or log page


class BadRequest(Exception):
    pass


class Node:
    def __init__(self, cfg: dict):
        self.name: str = cfg["node"]
        self.variant: str = cfg.get("variant", "total-order")
        if self.variant not in VARIANTS:
            raise SystemExit(f"unknown variant {self.variant!r} (known: {', '.join(VARIANTS)})")
        self.listen = tuple(cfg["listen"])
        self.sequencer = cfg.get("sequencer") or sorted(cfg["nodes"])[0]
        self.link_delay = tuple(float(x) for x in cfg.get("link_delay", (0.0, 0.05)))
        self.sync_interval = float(cfg.get("sync_interval", 0.05))
        self.ae_interval = float(cfg.get("ae_interval", 0.5))
        self.gossip_interval = float(cfg.get("gossip_interval", 0.1))
        self.rpc_timeout = float(cfg.get("rpc_timeout", 0.5))
        self.peers = {p: Peer(p, tuple(a)) for p, a in sorted(cfg["nodes"].items()) if p != self.name}
        self.delivered: list[dict] = []              # in delivery order
        self.position: dict[str, int] = {}           # message id -> index in delivered
        self.rooms: dict[str, list] = {}             # room -> values in delivery order
        self.by_origin: dict[str, dict[int, dict]] = {}
        self.clock: dict[str, int] = {}              # origin -> delivered in a row from seq 1
        self.pending: dict[str, dict] = {}           # received, not yet deliverable (not durable: peers resend)
        self.own_seq = 0
        self.wake = {p: asyncio.Event() for p in self.peers}   # a link has our new messages to push
        self.grew = asyncio.Event()                  # something was delivered (posts at followers wait on it)
        self.background: set[asyncio.Task] = set()
        data_dir = cfg.get("data_dir") or os.getcwd()
        os.makedirs(data_dir, exist_ok=True)
        path = os.path.join(data_dir, "delivered.jsonl")
        for m in Journal.replay(path):
            self._mark(m)
        self.journal = Journal(path, bool(cfg.get("fsync", True)))

    # -------------------------------------------------------------------------------------------- delivery
    def _mark(self, m: dict) -> None:
        self.position[m["id"]] = len(self.delivered)
        self.delivered.append(m)
        self.rooms.setdefault(m["room"], []).append(m["value"])
        if "seq" in m:
            o = m["origin"]
            got = self.by_origin.setdefault(o, {})
            got[m["seq"]] = m
            while self.clock.get(o, 0) + 1 in got:
                self.clock[o] = self.clock.get(o, 0) + 1
            if o == self.name:
                self.own_seq = max(self.own_seq, m["seq"])

    def deliver(self, msgs: list[dict]) -> None:
        """Journal (one fsync), then make visible: a read never shows what a crash could take back."""
        if msgs:
            self.journal.append(*msgs)
            for m in msgs:
                self._mark(m)
                self.pending.pop(m["id"], None)
            self.grew.set()

    def _deliverable(self, m: dict, clock: dict) -> bool:
        if self.variant == "gossip":
            return True
        o = m["origin"]
        if m["seq"] != clock.get(o, 0) + 1:
            return False
        if self.variant == "fifo-only":
            return True  # the bug: the rest of the sender's clock is not looked at
        return all(n <= clock.get(k, 0) for k, n in m["vc"].items() if k != o)

    def receive(self, msgs: list) -> None:
        for m in msgs:
            if isinstance(m, dict) and m.get("id") not in self.position and m.get("origin") != self.name:
                self.pending[m["id"]] = m
        clock, batch, progress = dict(self.clock), [], True
        while progress:
            progress = False
            for mid, m in list(self.pending.items()):
                if mid not in self.position and self._deliverable(m, clock):
                    batch.append(m)
                    if self.variant != "gossip":
                        clock[m["origin"]] = m["seq"]
                    del self.pending[mid]
                    progress = True
        self.deliver(batch)

    def missing_for(self, known: dict) -> list[dict]:
        """Delivered messages (any origin) a peer whose clock is ``known`` lacks, at most ``PAGE``."""
        out: list[dict] = []
        for o, got in self.by_origin.items():
            out.extend(got[s] for s in sorted(s for s in got if s > known.get(o, 0)))
            if len(out) >= PAGE:
                break
        return out[:PAGE]

    # -------------------------------------------------------------------------------------------- spreading
    async def _delay(self) -> None:
        lo, hi = self.link_delay
        if hi > 0:
            await asyncio.sleep(random.uniform(lo, hi))

    async def link(self, peer: str) -> None:
        """causal / fifo-only: push our new messages to ``peer`` at once, and everything it lacks every
        ``ae_interval`` (relayed ones too). Only the anti-entropy round relays, so a relayed message and one sent
        directly really race (as they do between real nodes)."""
        p, wake = self.peers[peer], self.wake[peer]
        known: dict = {}
        sent_own, last_ae = 0, 0.0
        while True:
            try:
                await asyncio.wait_for(wake.wait(), self.sync_interval)
            except asyncio.TimeoutError:
                pass
            wake.clear()
            now = time.monotonic()
            if now - last_ae >= self.ae_interval:
                last_ae = now
                batch = self.missing_for(known)
            else:
                own = self.by_origin.get(self.name, {})
                start = max(sent_own, known.get(self.name, 0))
                batch = [own[s] for s in range(start + 1, self.own_seq + 1) if s in own][:PAGE]
                if not batch:
                    continue
            await self._delay()
            sent_own = max([sent_own] + [m["seq"] for m in batch if m["origin"] == self.name])
            try:
                known = (await p.call({"type": "push", "msgs": batch}, self.rpc_timeout)).get("clock") or known
            except PeerError:
                sent_own = known.get(self.name, 0)  # resend from what the peer confirmed

    async def gossip(self) -> None:
        """gossip: every ``gossip_interval``, one random peer gets whatever it lacks."""
        known: dict = {p: {} for p in self.peers}
        while True:
            await asyncio.sleep(self.gossip_interval)
            peer = random.choice(sorted(self.peers))
            await self._delay()
            try:
                reply = await self.peers[peer].call({"type": "push", "msgs": self.missing_for(known[peer])},
                                                    self.rpc_timeout)
                known[peer] = reply.get("clock") or known[peer]
            except PeerError:
                pass

    async def send_once(self, m: dict) -> None:
        """no-retransmit: one try per peer, whatever happens to it."""
        async def one(p: Peer) -> None:
            await self._delay()
            try:
                await p.call({"type": "push", "msgs": [m]}, self.rpc_timeout)
            except PeerError:
                pass  # the bug: never sent again
        await asyncio.gather(*(one(p) for p in self.peers.values()))

    async def follow(self) -> None:
        """total-order, not the sequencer: pull the sequencer's log in order."""
        seq = self.peers[self.sequencer]
        while True:
            try:
                page = (await seq.call({"type": "log", "since": len(self.delivered)}, self.rpc_timeout)).get("value")
            except PeerError:
                page = None
            if page and page[0].get("gseq") == len(self.delivered) + 1:
                self.deliver(page)
                if len(page) == PAGE:
                    continue
            await asyncio.sleep(self.sync_interval)

    def _spawn(self, coro) -> None:
        t = asyncio.create_task(coro)
        self.background.add(t)
        t.add_done_callback(self.background.discard)

    # -------------------------------------------------------------------------------------------- client ops
    async def post(self, room: str, value) -> dict:
        m = {"id": json.dumps(value, sort_keys=True, separators=(",", ":")), "room": room, "value": value,
             "origin": self.name}
        if m["id"] in self.position or m["id"] in self.pending:
            raise BadRequest("a message with this value was posted already")
        if self.variant == "total-order":
            return await self._post_sequenced(m)
        self.own_seq += 1
        m["seq"] = self.own_seq
        m["vc"] = {**self.clock, self.name: self.own_seq}
        self.deliver([m])
        if self.variant == "no-retransmit":
            self._spawn(self.send_once(m))
        for w in self.wake.values():
            w.set()
        return {"value": value}

    def sequence(self, m: dict) -> int:
        if m["id"] not in self.position:
            self.deliver([{**m, "gseq": len(self.delivered) + 1}])
        return self.position[m["id"]] + 1

    async def _post_sequenced(self, m: dict) -> dict:
        if self.name == self.sequencer:
            self.sequence(m)
            return {"value": m["value"]}
        try:
            gseq = (await self.peers[self.sequencer].call({"type": "sequence", "msg": m}, self.rpc_timeout))["gseq"]
        except PeerDown as e:
            return {"error": "unavailable", "detail": f"sequencer: {e}"}
        except (PeerError, KeyError) as e:
            return {"error": "timeout", "detail": f"sequencer: {e}"}
        deadline = time.monotonic() + 2 * self.rpc_timeout
        while len(self.delivered) < gseq:  # answer once delivered here too
            self.grew.clear()
            try:
                await asyncio.wait_for(self.grew.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return {"error": "timeout", "detail": f"sequenced as {gseq}, not yet delivered here"}
        return {"value": m["value"]}

    # -------------------------------------------------------------------------------------------- requests
    async def handle(self, req: dict) -> dict:
        t = req.get("type")
        if t == "post":
            if not isinstance(req.get("room"), str) or "value" not in req:
                raise BadRequest("post needs room (a string) and value")
            return await self.post(req["room"], req["value"])
        if t == "read":
            return {"value": list(self.rooms.get(req.get("room"), []))}
        if t == "read-all":
            rooms = req.get("rooms")
            if not isinstance(rooms, list):
                raise BadRequest("read-all needs rooms (a list)")
            return {"value": [[r, list(self.rooms.get(r, []))] for r in rooms]}
        if t == "push":
            msgs = req.get("msgs")
            if not isinstance(msgs, list):
                raise BadRequest("push needs msgs (a list)")
            self.receive(msgs)
            return {"clock": dict(self.clock)}
        if t == "sequence":
            if self.name != self.sequencer or not isinstance(req.get("msg"), dict):
                raise BadRequest("sequence goes to the sequencer, with msg")
            return {"gseq": self.sequence(req["msg"])}
        if t == "log":
            since = int(req.get("since", 0))
            return {"value": self.delivered[since:since + PAGE]}
        if t == "status":
            st = {"node": self.name, "variant": self.variant, "delivered": len(self.delivered),
                  "clock": dict(self.clock), "pending": len(self.pending)}
            if self.variant == "total-order":
                st["sequencer"] = self.sequencer
            return {"value": st}
        raise BadRequest(f"unknown request type {t!r}")

    async def serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                req = None
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise BadRequest("a request is a JSON object")
                    out = await self.handle(req)
                    reply = {"id": req.get("id"), "ok": "error" not in out, **out}
                except (BadRequest, ValueError, KeyError, TypeError) as e:
                    rid = req.get("id") if isinstance(req, dict) else None
                    reply = {"id": rid, "ok": False, "error": "bad-request", "detail": str(e)}
                writer.write((json.dumps(reply, separators=(",", ":")) + "\n").encode())
                await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down: the connection just ends
        finally:
            writer.close()

    async def main(self) -> None:
        server = await asyncio.start_server(self.serve_conn, self.listen[0], self.listen[1], limit=2**24,
                                            reuse_address=True)
        if self.variant == "total-order":
            if self.name != self.sequencer:
                self._spawn(self.follow())
        elif self.variant == "gossip":
            self._spawn(self.gossip())
        elif self.variant != "no-retransmit":
            for p in self.peers:
                self._spawn(self.link(p))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"chat {self.name} ({self.variant}) listening on {self.listen[0]}:{self.listen[1]}, "
              f"{len(self.delivered)} messages replayed", flush=True)
        async with server:
            await stop.wait()
        for t in list(self.background):
            t.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        self.journal.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="chat node")
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
