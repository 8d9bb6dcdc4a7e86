"""work-queue node: a replicated, durable work queue with acknowledgements, leases and redelivery on timeout.

Run: ``python -m splitbrain.systems_under_test.work_queue.server --config FILE`` (config as in docs/ARCHITECTURE.md; extras
below). Stdlib only; sleeps only with ``asyncio.sleep`` and fsyncs on the event loop (nodes run under libfaketime).

Design (leaderless, majority-replicated; every node serves every request). Each node keeps, per message id, the
message body, its current lease (holder token and expiry on this node's clock) and who finished it (``done_by``),
and journals every change (fsync) before answering:

- ``enqueue``: the node writes the message to a majority (itself included) and answers once a majority has it on
  disk. Messages are identified by their value (the producer gives unique ones).
- ``dequeue``: the node picks an open message it knows (not finished, no live lease) and *claims* it under a new
  lease token at a majority: a node grants a claim unless the message is finished or leased to a smaller token
  whose lease has not expired there. Granted by a majority, the message and token go to the consumer; otherwise the
  node tries another. (Concurrent claims of one message are settled by token order, so nodes racing for the last
  few messages do not each keep their own claim forever; the rare loser whose claim a smaller one overtook finds
  its ack refused: leases only spare work, the finish below is what makes processing exactly-once.) Knowing nothing to claim, it asks its peers for their open messages (a majority answering
  means nothing acknowledged can hide: every acknowledged message is on a majority). A lease not finished within
  ``visibility_timeout`` expires and the message is redelivered to the next consumer.
- ``ack`` (the consumer processed the message): the node *finishes* the message under the consumer's token at a
  majority; a node grants a finish unless the message was already finished under another token. So two tokens can
  never both win a majority (majorities intersect, and the node in both took one first): each message is processed
  exactly once however often it is delivered (at-least-once delivery, deduplicated by message id). An ack refused
  by a majority is ``already-processed`` (definite: the consumer must drop its work); one with no majority either
  way at the deadline is ``undecided`` (indefinite). Dequeues and acks take several messages in one round.

Wire protocol (one TCP port, newline-delimited JSON; ``id`` echoed; errors ``{"ok": false, "error", "detail"}``):

client requests                        reply ``value`` (and fields)
- ``enqueue`` {value}                   the value
- ``dequeue`` {limit?: 1}               ``[{"msg_id", "body", "lease"}, ...]`` claimed (empty if none; then
                                        ``empty``: true when nothing is unfinished anywhere a majority knows of)
- ``ack`` {acks: [[msg_id, lease], ...]}  per ack ``"ok"``, ``"already-processed"`` (refused by a majority:
                                        definite) or ``"undecided"`` (no majority either way in time)
- ``status``                            ``{"node", "variant", "messages", "open", "done"}``
peer requests
- ``peer`` {op: put|claim|finish, items: [[msg_id, body, lease], ...]}   per item
                                        ``{"grant": bool, "reason"?, "done_by"?}``
- ``open``                              ``{"open": [[msg_id, body], ...], "done": [[msg_id, lease], ...]}``: the
                                        messages this node knows open, and those it knows finished

Variants (the seeded bugs):
- ``correct``: as above.
- ``ack-before-durable``: ``enqueue`` answers as soon as the message is in this node's memory; it is journaled and
  replicated ``flush_delay`` seconds later. A kill in between loses it.
- ``no-dedup``: a finish is always granted, so a consumer whose lease expired (it was slow) and whose message was
  redelivered and processed by another consumer still gets its ack accepted: processed twice.
- ``unreplicated``: each node keeps the messages enqueued through it in its own memory only and serves them
  itself (no replication, no journal): messages of a node that is killed are gone.

Config extras: ``visibility_timeout`` (s, 0.25), ``rpc_timeout`` (s, 0.5: per peer call; client requests wait at
most this for a majority), ``flush_delay`` (s, 0.5, ack-before-durable only), ``fsync`` (true).
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

from .peers import Peer, PeerError
from .storage import Journal

VARIANTS = ("correct", "ack-before-durable", "no-dedup", "unreplicated")


class BadRequest(Exception):
    pass


class Node:
    def __init__(self, cfg: dict):
        self.name: str = cfg["node"]
        self.variant: str = cfg.get("variant", "correct")
        if self.variant not in VARIANTS:
            raise SystemExit(f"unknown variant {self.variant!r} (known: {', '.join(VARIANTS)})")
        self.listen = tuple(cfg["listen"])
        self.visibility = float(cfg.get("visibility_timeout", 0.25))
        self.rpc_timeout = float(cfg.get("rpc_timeout", 0.5))
        self.flush_delay = float(cfg.get("flush_delay", 0.5))
        self.replicated = self.variant != "unreplicated"
        self.peers = [Peer(p, tuple(a)) for p, a in sorted(cfg["nodes"].items()) if p != self.name]
        self.majority = len(cfg["nodes"]) // 2 + 1
        self.msgs: dict[str, dict] = {}   # msg_id -> {"body", "lease", "expires", "done_by"}; insertion order
        self.boot = f"{self.name}.{random.getrandbits(32):08x}"  # lease tokens stay unique across restarts
        self.leases = 0
        self.background: set[asyncio.Task] = set()
        data_dir = cfg.get("data_dir") or os.getcwd()
        os.makedirs(data_dir, exist_ok=True)
        path = os.path.join(data_dir, "journal.jsonl")
        self.journal = Journal(path, bool(cfg.get("fsync", True))) if self.replicated else None
        if self.journal is not None:
            for r in Journal.replay(path):  # a lease replayed is live again for a visibility timeout: safe side
                self._change(r["t"], r["msg_id"], r.get("body"), r.get("lease"))

    # -------------------------------------------------------------------------------------------- local state
    def _change(self, op: str, mid: str, body, lease) -> None:
        m = self.msgs.setdefault(mid, {"body": body, "lease": None, "expires": 0.0, "done_by": None})
        if op == "claim":
            m["lease"], m["expires"] = lease, time.monotonic() + self.visibility
        elif op == "finish":
            m["done_by"] = lease

    def _verdict(self, op: str, mid: str, lease) -> dict:
        m = self.msgs.get(mid)
        if m is None:
            return {"grant": True}
        if op == "claim" and m["done_by"] is not None:
            return {"grant": False, "reason": "done", "done_by": m["done_by"]}
        if (op == "claim" and m["lease"] not in (None, lease) and m["expires"] > time.monotonic()
                and lease > m["lease"]):
            return {"grant": False, "reason": "leased"}
        if op == "finish" and m["done_by"] not in (None, lease) and self.variant != "no-dedup":
            return {"grant": False, "reason": "done", "done_by": m["done_by"]}
        return {"grant": True}

    def apply(self, op: str, items: list, *, durable: bool = True) -> list[dict]:
        """put/claim/finish ``items`` (``[msg_id, body, lease]`` each) on this node's copy, one reply per item;
        what is granted is journaled (one fsync) before this returns, unless ``durable`` is off."""
        replies, records = [], []
        for mid, body, lease in items:
            r = self._verdict(op, mid, lease)
            replies.append(r)
            if r["grant"] and not (op == "put" and mid in self.msgs):  # a known message needs no second put
                self._change(op, mid, body, lease)
                records.append({"t": op, "msg_id": mid, "body": body, "lease": lease})
        if durable and records and self.journal is not None:
            self.journal.append(*records)
        return replies

    def _open(self) -> list[str]:
        now = time.monotonic()
        return [mid for mid, m in self.msgs.items()
                if m["done_by"] is None and (m["lease"] is None or m["expires"] <= now)]

    # -------------------------------------------------------------------------------------------- majorities
    async def quorum(self, op: str, items: list) -> list[tuple[int, int, str | None]]:
        """Apply ``items`` here and at every peer; per item (grants, refusals, a ``done_by`` some node reported),
        as soon as every item has a majority either way or every call has ended (at most ``rpc_timeout``).
        Calls still running go on in the background: a write should reach every node it can."""
        replies = [self.apply(op, items)]
        req = {"type": "peer", "op": op, "items": items}
        pending = {asyncio.create_task(p.call(req, self.rpc_timeout)) for p in self.peers}
        self.background |= pending
        for t in pending:
            t.add_done_callback(self._reap)

        def tally():
            out = []
            for i in range(len(items)):
                rs = [r[i] for r in replies]
                g = sum(1 for r in rs if r.get("grant"))
                out.append((g, len(rs) - g, next((r["done_by"] for r in rs if r.get("done_by")), None)))
            return out

        result = tally()
        while pending and not all(g >= self.majority or f >= self.majority for g, f, _ in result):
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                r = None if t.cancelled() or t.exception() is not None else t.result()
                if r and r.get("ok") and isinstance(r.get("value"), list) and len(r["value"]) == len(items):
                    replies.append(r["value"])
            result = tally()
        return result

    def _reap(self, t: asyncio.Task) -> None:
        self.background.discard(t)
        if not t.cancelled():
            t.exception()  # a peer that did not answer is the normal case under faults

    async def pull(self) -> int:
        """Learn the open messages of every peer that answers, and which of ours they know finished (a node cut
        off for a while would otherwise try its stale messages one claim at a time); return how many nodes
        answered (self included)."""
        results = await asyncio.gather(*(p.call({"type": "open"}, self.rpc_timeout) for p in self.peers),
                                       return_exceptions=True)
        answered = 1
        for r in results:
            if isinstance(r, dict) and r.get("ok"):
                answered += 1
                value = r.get("value") or {}
                self.apply("put", [[mid, body, None] for mid, body in value.get("open", [])])
                self.apply("finish", [[mid, self.msgs[mid]["body"], done_by] for mid, done_by in value.get("done", [])
                                      if mid in self.msgs and self.msgs[mid]["done_by"] is None])
        return answered

    # -------------------------------------------------------------------------------------------- client ops
    async def enqueue(self, value) -> dict:
        mid = json.dumps(value, sort_keys=True, separators=(",", ":"))
        item = [mid, value, None]
        if not self.replicated:
            self.apply("put", [item], durable=False)
            return {"value": value}
        if self.variant == "ack-before-durable":
            self.apply("put", [item], durable=False)
            task = asyncio.create_task(self._flush_later(item))
            self.background.add(task)
            task.add_done_callback(self._reap)
            return {"value": value}
        grants, _, _ = (await self.quorum("put", [item]))[0]
        if grants < self.majority:
            return {"error": "quorum-timeout", "detail": f"the message reached {grants} of {self.majority} nodes"}
        return {"value": value}

    async def _flush_later(self, item: list) -> None:
        await asyncio.sleep(self.flush_delay)
        if self.journal is not None:
            self.journal.append({"t": "put", "msg_id": item[0], "body": item[1], "lease": None})
        req = {"type": "peer", "op": "put", "items": [item]}
        await asyncio.gather(*(p.call(req, self.rpc_timeout) for p in self.peers), return_exceptions=True)

    async def dequeue(self, limit: int) -> dict:
        """Claim up to ``limit`` open messages (one round for all); ``value``: ``[{msg_id, body, lease}]``."""
        answered = 0
        for attempt in range(2):
            cands = self._open()
            picked = random.sample(cands, min(limit, len(cands)))  # consumers rarely collide
            items = []
            for mid in picked:
                self.leases += 1
                items.append([mid, self.msgs[mid]["body"], f"{self.boot}.{self.leases:09d}"])
            got = []
            if items and not self.replicated:
                self.apply("claim", items, durable=False)
                got = items
            elif items:
                for item, (grants, _, done_by) in zip(items, await self.quorum("claim", items)):
                    if grants >= self.majority:
                        got.append(item)
                    elif done_by is not None:
                        self.apply("finish", [[item[0], item[1], done_by]])  # learnt: someone finished it
            if got:
                return {"value": [{"msg_id": mid, "body": body, "lease": lease} for mid, body, lease in got]}
            if attempt == 0 and self.replicated:
                answered = await self.pull()
        unfinished = any(m["done_by"] is None for m in self.msgs.values())
        enough = answered >= self.majority or not self.replicated
        return {"value": [], "empty": enough and not unfinished}

    async def ack(self, acks: list) -> dict:
        """Finish ``[[msg_id, lease], ...]``; ``value``: per ack ``"ok"``, ``"already-processed"`` (a majority
        refused: definite) or ``"undecided"`` (no majority either way in time)."""
        items = [[mid, self.msgs[mid]["body"], lease] for mid, lease in acks if mid in self.msgs]
        if len(items) != len(acks):
            raise BadRequest("ack of a message this node does not know")
        if not self.replicated:
            return {"value": ["ok" if r["grant"] else "already-processed"
                              for r in self.apply("finish", items, durable=False)]}
        out = []
        for grants, refusals, _ in await self.quorum("finish", items):
            out.append("ok" if grants >= self.majority else
                       "already-processed" if refusals >= self.majority else "undecided")
        return {"value": out}

    # -------------------------------------------------------------------------------------------- requests
    async def handle(self, req: dict) -> dict:
        t = req.get("type")
        if t == "enqueue":
            if "value" not in req:
                raise BadRequest("enqueue needs a value")
            return await self.enqueue(req["value"])
        if t == "dequeue":
            return await self.dequeue(max(1, int(req.get("limit", 1))))
        if t == "ack":
            acks = req.get("acks")
            if not isinstance(acks, list) or not all(isinstance(a, list) and len(a) == 2 for a in acks):
                raise BadRequest("ack needs acks: [[msg_id, lease], ...]")
            return await self.ack(acks)
        if t == "peer":
            if req.get("op") not in ("put", "claim", "finish") or not isinstance(req.get("items"), list):
                raise BadRequest("peer needs op (put, claim or finish) and items")
            return {"value": self.apply(req["op"], [list(i) for i in req["items"]])}
        if t == "open":
            return {"value": {"open": [[mid, self.msgs[mid]["body"]] for mid in self._open()],
                              "done": [[mid, m["done_by"]] for mid, m in self.msgs.items()
                                       if m["done_by"] is not None]}}
        if t == "status":
            done = sum(1 for m in self.msgs.values() if m["done_by"] is not None)
            return {"value": {"node": self.name, "variant": self.variant, "messages": len(self.msgs),
                              "open": len(self._open()), "done": done}}
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
                    reply = ({"id": req.get("id"), "ok": False, **out} if "error" in out
                             else {"id": req.get("id"), "ok": True, **out})
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
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"work-queue {self.name} ({self.variant}) listening on {self.listen[0]}:{self.listen[1]}, "
              f"{len(self.msgs)} messages known", flush=True)
        async with server:
            await stop.wait()
        for t in list(self.background):
            t.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self.journal is not None:
            self.journal.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="work-queue node")
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
