"""A Raft key-value node: ``python -m splitbrain.systems_under_test.raft_kv.server --config FILE``.

The driver around the pure ``RaftCore``: one TCP port for clients and peers (JSON lines; see
docs/ARCHITECTURE.md), a ticker, and a *ready* step that runs after every burst of input and does, in this order
and without yielding to the event loop: send the leader's appends (they may precede the leader's own write, Raft
10.2.1), write the core's durable state (one SQLite transaction, fsync), send the replies that promised something
durable (votes, append acknowledgements), restore an installed snapshot, apply newly committed entries and answer
their clients, answer confirmed reads, and compact the log into a snapshot once it holds ``snapshot_threshold``
applied entries. Everything that arrived while the previous step was writing shares the next write: that is the
batching of appends and fsyncs. The write blocks the loop (~0.3 ms) on purpose: no threads, because under
libfaketime every thread hand-off stalls (measured: ~0.7 s per ``asyncio.to_thread`` call).

Client requests: ``read``/``write``/``cas``/``counter-add``/``counter-read``/``set-add``/``set-read`` with ``key``,
``value``, and for writes optionally ``client`` and ``seq`` (deduplication); ``timeout`` (seconds) bounds the wait;
``status``. A node that is not the leader forwards the request to the leader it knows (over its peer link) and
relays the answer; a forwarded request that reaches a non-leader is answered ``not-leader`` with a hint, never
forwarded again. Errors: ``not-leader``/``no-leader``/``unavailable`` (definite: nothing was appended),
``cas-mismatch`` (definite), ``timeout`` (indefinite: the entry may still commit; also every write pending when its
leader steps down). Reads are answered after a ReadIndex round (``stale-read``: at once from local state).

Config (beside node/listen/nodes/variant/data_dir): ``election_timeout`` [lo, hi], ``heartbeat_interval``,
``snapshot_threshold``, ``request_timeout``, ``check_quorum``, ``max_batch``, ``pre_vote`` (default on; off brings
back the term inflation of a node returning from a partition, which deposes the leader).

Sleeps are ``asyncio.sleep`` only (the node runs under libfaketime, where ``time.sleep`` fails), timers use
``time.monotonic``. Must not: answer a write before its entry is applied, send a vote or an append reply before
the state it promises is durable, or answer ``not-leader`` for a write it appended.
"""

from __future__ import annotations

import argparse
import hashlib
import asyncio
import itertools
import json
import logging
import os
import random
import signal
import sqlite3
import sys
import time
from typing import Callable

from .core import LEADER, RaftCore
from .net import PeerLink, encode, tune_socket
from .state_machine import KVStateMachine
from .storage import CorruptLog, Storage

VARIANTS = ("correct", "stale-read", "commit-old-term", "volatile-vote", "no-dedup", "no-fsync", "no-checksum")
WRITE_OPS = {"write": "write", "cas": "cas", "counter-add": "counter-add", "set-add": "set-add"}
READ_OPS = ("read", "counter-read", "set-read")
DEFAULTS = {"election_timeout": [0.3, 0.6], "heartbeat_interval": 0.05, "snapshot_threshold": 5000,
            "request_timeout": 5.0, "check_quorum": True, "max_batch": 512,
            "pre_vote": True}

log = logging.getLogger("raft_kv")
Reply = Callable[[dict], None]


def _err(code: str, detail: str = "", **extra) -> dict:
    return {"ok": False, "error": code, "detail": detail, **extra}


class Node:
    def __init__(self, cfg: dict):
        self.cfg = {**DEFAULTS, **cfg}
        self.name: str = cfg["node"]
        self.variant: str = cfg.get("variant", "correct")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r} (known: {', '.join(VARIANTS)})")
        self.storage = Storage(cfg["data_dir"], persist_vote=self.variant != "volatile-vote",
                               fsync=self.variant != "no-fsync", checksum=self.variant != "no-checksum")
        term, voted_for, rlog, snap = self.storage.load()
        self.sm = KVStateMachine(dedup=self.variant != "no-dedup")
        if snap is not None:
            self.sm.restore(snap)
        et = tuple(float(x) for x in self.cfg["election_timeout"])
        self.core = RaftCore(
            self.name, list(cfg["nodes"]), term=term, voted_for=voted_for, log=rlog, snapshot_data=snap,
            rng=random.Random(), now=time.monotonic(), election_timeout=et,
            heartbeat_interval=float(self.cfg["heartbeat_interval"]),
            # Leaders step down after 2 election timeouts without a majority (fewer doomed requests at a cut-off
            # leader), except in stale-read: a leader that never confirms its leadership does not do it this way
            # either, so it serves stale reads for as long as it is cut off.
            check_quorum=2 * et[1] if self.cfg["check_quorum"] and self.variant != "stale-read" else None,
            max_batch=int(self.cfg["max_batch"]),
            commit_old_terms=self.variant == "commit-old-term", stale_reads=self.variant == "stale-read",
            pre_vote=bool(self.cfg["pre_vote"]))
        self.links = {p: PeerLink(p, addr[0], int(addr[1])) for p, addr in cfg["nodes"].items() if p != self.name}
        self.snapshot_threshold = int(self.cfg["snapshot_threshold"])
        self.request_timeout = float(self.cfg["request_timeout"])
        # Requests in progress are callbacks, not tasks: one reply function each, called exactly once (the
        # entry popped first), by the apply step, a leadership change, or the deadline sweep.
        self.waiters: dict[int, tuple[int, Reply, float]] = {}                # log index -> (term, reply, deadline)
        self.read_waiters: dict[int, tuple[int, str, object, Reply, float]] = {}  # tag -> (term, kind, key, ...)
        self.parked_reads: list[tuple[int, int]] = []                         # (read index, tag)
        self.fwd_waiters: dict[int, tuple[Reply, float]] = {}                 # forward id -> (reply, deadline)
        self.no_leader: list[tuple[dict, float, float, Reply]] = []  # (request, deadline, give up at, reply)
        self._next_sweep = 0.0
        self._ids = itertools.count(1)
        self._kick: asyncio.Event | None = None
        self._last_role = (self.core.role, self.core.term, self.core.leader)
        self._last_vote = (self.core.term, self.core.voted_for)
        self.snapshots_installed = 0

    # ------------------------------------------------------------------------------------------- lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        self._kick = asyncio.Event()
        host, port = self.cfg["listen"]
        server = await asyncio.start_server(self._serve_conn, host, int(port), reuse_address=True, limit=2**26)
        log.info("node %s (%s) listening on %s:%s, term %d, log %d..%d", self.name, self.variant, host, port,
                 self.core.term, self.core.log.snapshot_index, self.core.log.last_index)
        for link in self.links.values():
            link.start()  # connected before the first vote or append needs it (see net.py)
        loops = [asyncio.create_task(self._ready_loop()), asyncio.create_task(self._ticker())]
        try:
            await stop.wait()
        finally:
            for t in loops:
                t.cancel()
            server.close()
            for link in self.links.values():
                await link.close()
            self.storage.close()

    def kick(self) -> None:
        self._kick.set()

    async def _ticker(self) -> None:
        interval = min(0.01, self.core.heartbeat_interval / 2)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            self.core.tick(now)
            if now >= self._next_sweep:
                self._next_sweep = now + 0.02
                self._sweep(now)
            c = self.core
            if c.outbox or c.hard_dirty or (c.role, c.term, c.leader) != self._last_role:
                self.kick()

    async def _ready_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                self._ready()
            except Exception:
                # A node whose ready step broke must not linger half-alive (answering status, never committing):
                # die loudly; its durable state is consistent (SQLite transactions), so a restart is safe.
                log.exception("ready step failed; exiting")
                os._exit(70)

    def _ready(self) -> None:
        """One ready step (see the module docstring). Synchronous: nothing interleaves between taking the
        outbox, writing the state it depends on, and sending it."""
        core = self.core
        core.replicate(time.monotonic())
        out = core.take_outbox()
        for to, msg, after_persist in out:
            if not after_persist:
                self.links[to].send(msg)
        batch = core.take_persist()
        if batch is not None:
            self.storage.write(batch)
            core.on_persisted(*batch["last"])
        for to, msg, after_persist in out:
            if after_persist:
                self.links[to].send(msg)
        self._apply()
        if core.last_applied - core.log.snapshot_index >= self.snapshot_threshold:
            core.compact(core.last_applied, self.sm.snapshot())
        if core.outbox or core.hard_dirty or core.snapshot_dirty or core.log_dirty_from is not None:
            self.kick()

    def _apply(self) -> None:
        """Restore an installed snapshot, apply committed entries and answer their writers, answer reads whose
        ReadIndex the state has reached. In-memory only."""
        core = self.core
        self._note_role_change()
        snap = core.take_snapshot_to_restore()
        if snap is not None:
            self.sm.restore(snap)
            self.snapshots_installed += 1
        for index, term, cmd in core.take_committed():
            result = self.sm.apply(cmd)
            w = self.waiters.pop(index, None)
            if w is not None:
                if w[0] == term:
                    w[1](dict(result))
                else:  # cannot happen while we lead (the waiters are failed at step-down); be safe: indefinite
                    w[1](_err("timeout", f"entry {index} was replaced"))
        for tag, read_index in core.take_confirmed_reads():
            self.parked_reads.append((read_index, tag))
        if self.parked_reads:
            still = []
            for read_index, tag in self.parked_reads:
                if read_index <= core.last_applied:
                    w = self.read_waiters.pop(tag, None)
                    if w is not None:
                        w[3]({"ok": True, "value": self.sm.read(w[1], w[2])})
                else:
                    still.append((read_index, tag))
            self.parked_reads = still

    def _note_role_change(self) -> None:
        vote = (self.core.term, self.core.voted_for)
        if vote != self._last_vote:
            self._last_vote = vote
            if vote[1] not in (None, self.name):
                log.info("voted for %s in term %d", vote[1], vote[0])  # a node's votes, for reading a failure
        state = (self.core.role, self.core.term, self.core.leader)
        if state == self._last_role:
            return
        log.info("role %s term %d leader %s", *state)
        self._last_role = state
        # Writes pending at a leader that stepped down may still commit under the next leader: indefinite.
        for index, (term, reply, _) in list(self.waiters.items()):
            if not self._leads_in(term):
                del self.waiters[index]
                reply(_err("timeout", "leadership lost before the entry committed"))
        for tag, (term, _, _, reply, _) in list(self.read_waiters.items()):
            if not self._leads_in(term):
                del self.read_waiters[tag]
                reply(_err("not-leader", "leadership lost before the read was confirmed", leader=self.core.leader))
        if self.no_leader and self.core.leader is not None:
            waiting, self.no_leader = self.no_leader, []
            for msg, deadline, _, reply in waiting:
                self._route(msg, deadline, reply)

    def _sweep(self, now: float) -> None:
        """Answer requests whose deadline passed: ``timeout`` (indefinite for writes: the entry may yet commit)."""
        for index, (_, reply, deadline) in list(self.waiters.items()):
            if now >= deadline:
                del self.waiters[index]
                reply(_err("timeout", f"entry {index} not committed in time"))
        for tag, (_, _, _, reply, deadline) in list(self.read_waiters.items()):
            if now >= deadline:
                del self.read_waiters[tag]
                reply(_err("timeout", "read not confirmed in time"))
        for rid, (reply, deadline) in list(self.fwd_waiters.items()):
            if now >= deadline:
                del self.fwd_waiters[rid]
                reply(_err("timeout", "no answer from the leader"))
        if self.no_leader:
            waiting, self.no_leader = self.no_leader, []
            for item in waiting:
                msg, deadline, give_up, reply = item
                if now >= give_up:
                    reply(_err("no-leader", "no leader known", leader=None))
                elif self.core.leader is not None:
                    self._route(msg, deadline, reply)
                else:
                    self.no_leader.append(item)

    def _leads_in(self, term: int) -> bool:
        return self.core.role == LEADER and self.core.term == term

    # ------------------------------------------------------------------------------------------- connections

    async def _serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tune_socket(writer.get_extra_info("socket"), user_timeout=False)

        def reply_to(rid):
            def reply(body: dict) -> None:
                body["id"] = rid
                if not writer.is_closing():
                    writer.write(encode(body))
            return reply

        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                    if not isinstance(msg, dict):
                        raise ValueError("not an object")
                except ValueError as e:
                    writer.write(encode(_err("bad-request", f"not a JSON object: {e}")))
                    continue
                if msg.get("type") == "peer":
                    self._on_peer(msg.get("m") or {})
                    continue
                self.handle(msg, reply_to(msg.get("id")))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # shutdown; re-raising makes Python 3.11's stream callback log a spurious traceback
        finally:
            writer.close()

    def _on_peer(self, m: dict) -> None:
        kind = m.get("t")
        if kind == "fwd":
            sender, rid = m.get("from"), m.get("rid")
            if sender in self.links:
                link = self.links[sender]
                self.handle(m.get("req") or {}, lambda body: link.send({"t": "fwd-r", "rid": rid, "reply": body}))
        elif kind == "fwd-r":
            w = self.fwd_waiters.pop(m.get("rid"), None)
            if w is not None:
                w[0](m.get("reply") or _err("crashed", "empty forwarded reply"))
        elif m.get("from") in self.links:
            try:
                self.core.step(m, time.monotonic())
            except (KeyError, TypeError, AttributeError) as e:  # a malformed peer message: drop it, keep going
                log.warning("dropped malformed peer message %r: %s", m, e)
            self.kick()

    # ------------------------------------------------------------------------------------------- requests

    def handle(self, msg: dict, reply: Reply) -> None:
        """Start serving a client (or forwarded) request; ``reply`` is called exactly once with the answer."""
        try:
            typ = msg.get("type")
            if typ == "status":
                st = self.status(digest=bool(msg.get("digest")))
                reply({"ok": True, **st})
                return
            if typ not in WRITE_OPS and typ not in READ_OPS:
                reply(_err("bad-request", f"unknown request type {typ!r}"))
                return
            try:
                timeout = min(float(msg.get("timeout", self.request_timeout)), 120.0)
            except (TypeError, ValueError):
                reply(_err("bad-request", "timeout must be a number"))
                return
            self._route(msg, time.monotonic() + timeout, reply)
        except Exception as e:  # a bug here must not kill the connection silently
            log.exception("request %r failed", msg)
            reply(_err("crashed", f"{type(e).__name__}: {e}"))

    def _route(self, msg: dict, deadline: float, reply: Reply) -> None:
        """Serve here as leader, forward to the known leader, or wait (bounded) for one to be known."""
        core = self.core
        if core.role == LEADER:
            if msg["type"] in WRITE_OPS:
                self._write(msg, deadline, reply)
            else:
                self._read(msg, deadline, reply)
        elif msg.get("forwarded"):
            reply(_err("not-leader", f"{self.name} is not the leader", leader=core.leader))
        elif core.leader is not None and core.leader in self.links:
            self._forward(core.leader, msg, deadline, reply)
        else:
            give_up = min(deadline, time.monotonic() + 2 * core.election_timeout[1])
            self.no_leader.append((msg, deadline, give_up, reply))

    def _forward(self, leader: str, msg: dict, deadline: float, reply: Reply) -> None:
        remaining = deadline - time.monotonic()
        rid = next(self._ids)
        req = {k: v for k, v in msg.items() if k != "id"}
        req.update(forwarded=True, timeout=max(remaining - 0.05, 0.01))
        # Not queued: an unconnected leader is answered "unavailable" at once (definite), so the client goes on.
        if not self.links[leader].send({"t": "fwd", "from": self.name, "rid": rid, "req": req}, queue=False):
            reply(_err("unavailable", f"leader {leader} unreachable from {self.name}", leader=leader))
            return
        self.fwd_waiters[rid] = (reply, deadline)

    def _write(self, msg: dict, deadline: float, reply: Reply) -> None:
        cmd = {"op": WRITE_OPS[msg["type"]], "key": msg.get("key"), "value": msg.get("value")}
        if msg.get("client") is not None and msg.get("seq") is not None:
            cmd["client"], cmd["seq"] = str(msg["client"]), msg["seq"]
        placed = self.core.propose(cmd, time.monotonic())
        if placed is None:
            reply(_err("not-leader", f"{self.name} is not the leader", leader=self.core.leader))
            return
        index, term = placed
        self.waiters[index] = (term, reply, deadline)
        self.kick()

    def _read(self, msg: dict, deadline: float, reply: Reply) -> None:
        tag = next(self._ids)
        self.read_waiters[tag] = (self.core.term, msg["type"], msg.get("key"), reply, deadline)
        if not self.core.request_read(tag, time.monotonic()):
            del self.read_waiters[tag]
            reply(_err("not-leader", f"{self.name} is not the leader", leader=self.core.leader))
            return
        self.kick()

    def status(self, digest: bool = False) -> dict:
        """What the node reports about itself. ``digest``: a hash of the whole applied state (costs a full
        serialisation, so only on request), to compare replicas."""
        c = self.core
        extra = {}
        if digest:
            blob = json.dumps(self.sm.snapshot(), sort_keys=True).encode()
            extra["digest"] = hashlib.sha256(blob).hexdigest()[:16]
        return {"node": self.name, "variant": self.variant, "role": c.role, "term": c.term, "leader": c.leader,
                "voted_for": c.voted_for, "commit_index": c.commit_index, "last_applied": c.last_applied,
                "log_length": len(c.log.entries), "last_index": c.log.last_index,
                "snapshot_index": c.log.snapshot_index, "storage_commits": self.storage.commits,
                "safety_violations": c.safety_violations, "snapshots_installed": self.snapshots_installed,
                "nodes": self.cfg["nodes"], **extra}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        with open(args.config) as f:
            cfg = json.load(f)
        cfg.setdefault("data_dir", os.getcwd())
        node = Node(cfg)
    except (CorruptLog, sqlite3.DatabaseError) as e:
        # A damaged data dir is never served: the node stays down (its peers hold the data).
        print(f"raft_kv: the data dir is damaged ({e}); refusing to start", file=sys.stderr)
        return 3
    except (OSError, ValueError, KeyError) as e:
        print(f"raft_kv: bad config {args.config}: {e}", file=sys.stderr)
        return 2

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await node.run(stop)

    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
