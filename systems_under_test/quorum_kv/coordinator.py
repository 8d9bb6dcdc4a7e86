"""The coordinator: turns one client request into quorum rounds over all replicas (this node included).

Algorithm (variant ``correct``): multi-writer ABD.
- write(k, x): ask every replica for its record of k and wait for R answers; take the highest version (c, _); then
  store ``((c + 1, me), x)`` on every replica and wait for W acknowledgements.
- read(k): ask every replica and wait for R answers; take the newest record; unless at least W of those answers
  already hold it, write it back and wait for W acknowledgements; then answer. The write-back is what makes reads
  linearizable: once a read returned x, x sits on a write quorum, so every later read quorum sees x or newer (no
  new/old inversion while a write is half-done). Skipping it when W answers already agree is the same guarantee.
- With R + W > N every read quorum meets every write quorum; R and W default to majorities.
- set-add / counter-add store a CRDT delta on W replicas; set-read / counter-read are reads as above (merge by
  union / per-entry max, then the same write-back). A counter coordinator persists its own new total locally
  before sending it anywhere (see records.py for why).

Seeded variants (the bug is the whole difference):
- ``no-read-repair``: reads never write back -> a read can return a half-written value and a later read the old one.
- ``r1w1``: R = W = 1 -> a replica that missed a write answers reads with the old value.
- ``lww-wallclock``: write versions come from the coordinator's wall clock and there is no read phase -> under
  clock skew a later write gets a smaller version than an earlier one and is silently lost.
- ``no-fsync`` (storage.py): a replica acknowledges a store before it is fsynced -> a power loss loses it.
- ``retry-as-new``: a counter add whose store timed out is tried again as a new add (a new increment of this
  node's own total) -> the first attempt still lands on slow links, and the delta counts twice.

Errors (codes from the harness' error table): ``unavailable`` (definite) only when nothing was sent to any replica
that could change state: the read phase did not reach R, or too few replicas are reachable to try; once a store
was sent, a missing quorum is ``quorum-timeout`` (indefinite). ``cas`` is ``unsupported``: without a leader or
consensus, compare-and-set over quorums is not atomic, and pretending otherwise would be a lie. Every request
ends within ``timeout`` seconds (plus one fsync).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Awaitable, Callable

from . import records
from .peers import PeerLink
from .storage import Store, StorageError

VARIANTS = ("correct", "no-read-repair", "r1w1", "lww-wallclock", "no-fsync", "retry-as-new")


def ok(value=None, *, has_value: bool = False) -> dict:
    return {"ok": True, "value": value} if has_value else {"ok": True}


def err(code: str, detail: str = "") -> dict:
    return {"ok": False, "error": code, "detail": detail}


class Coordinator:
    """Coordinates client requests arriving at node ``me``. ``links`` are the other nodes only."""

    def __init__(self, me: str, store: Store, links: dict[str, PeerLink], variant: str, r: int, w: int,
                 timeout: float, wallclock: Callable[[], float] = time.time):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}")
        self.me, self.store, self.links = me, store, links
        self.variant, self.r, self.w, self.timeout = variant, r, w, timeout
        self.write_back = variant in ("correct", "lww-wallclock")
        self.read_before_write = variant != "lww-wallclock"
        self.wallclock = wallclock  # only the lww-wallclock variant reads the wall clock
        self._last_wallclock_us = 0
        self._own_counter: dict[str, tuple[int, int]] = {}  # canonical key -> own totals reserved so far
        self._background: set[asyncio.Task] = set()
        self.stats: collections.Counter = collections.Counter()

    # ---------------------------------------------------------------------------------------------- dispatch

    async def handle(self, req: dict) -> dict:
        t = req.get("type")
        if t == "cas":
            self.stats["cas"] += 1
            return err("unsupported", "leaderless quorums cannot make compare-and-set atomic")
        handler = {
            "read": self._read_register, "write": self._write_register,
            "set-add": self._set_add, "set-read": self._set_read,
            "counter-add": self._counter_add, "counter-read": self._counter_read,
        }.get(t)
        if handler is None:
            return err("bad-request", f"unknown request type {str(t)[:40]!r}")
        self.stats[t] += 1  # known types only, so a confused client cannot grow this without bound
        if "key" not in req:
            return err("bad-request", f"{t} needs a key")
        try:
            return await handler(req["key"], req.get("value"))
        except records.BadRecord as e:
            return err("bad-request", str(e))
        except StorageError as e:
            return err("crashed", f"local storage failed: {e}")

    # ---------------------------------------------------------------------------------------------- quorum rounds

    async def _first(self, aws: list[Awaitable], need: int, deadline: float, *, cancel_rest: bool) -> list:
        """Run ``aws`` concurrently; return the results of the first ``need`` that succeed (fewer if the deadline
        passes or all finish first), in completion order. The rest are cancelled (queries) or left to finish in
        the background (stores: more copies never hurt, and cancelling would not unsend them anyway)."""
        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(a) for a in aws]
        got: list = []
        enough = loop.create_future()
        finished = 0

        def on_done(t: asyncio.Future) -> None:
            nonlocal finished
            finished += 1
            if not t.cancelled() and t.exception() is None:  # exception() also marks a failure as seen
                got.append(t.result())
            if not enough.done() and (len(got) >= need or finished == len(tasks)):
                enough.set_result(None)

        for t in tasks:
            t.add_done_callback(on_done)
        if need > 0 and tasks:
            timer = loop.call_at(loop.time() + max(deadline - time.monotonic(), 0.0),
                                 lambda: enough.done() or enough.set_result(None))
            try:
                await enough
            finally:
                timer.cancel()
        result = got[:need]
        for t in tasks:
            if not t.done():
                if cancel_rest:
                    t.cancel()
                self._background.add(t)  # a strong reference until it ends (the loop only keeps weak ones)
                t.add_done_callback(self._background.discard)
        return result

    async def _remote(self, link: PeerLink, msg: dict, deadline: float):
        reply = await link.call(msg, deadline - time.monotonic())
        if not reply.get("ok"):
            raise RuntimeError(f"{link.name}: {reply.get('error')}: {reply.get('detail', '')}")
        return reply

    async def _query(self, kind: str, key, deadline: float) -> list[dict | None]:
        """Records of (kind, key) from the first R replicas to answer (this node's own answer is immediate)."""
        local = asyncio.get_running_loop().create_future()  # this replica answers at once
        local.set_result(self.store.get(kind, key))

        async def remote(link):
            reply = await self._remote(link, {"type": "peer-get", "kind": kind, "key": key}, deadline)
            rec = reply.get("value")
            return None if rec is None else records.validate(kind, rec)

        return await self._first([local, *(remote(l) for l in self.links.values())], self.r, deadline,
                                 cancel_rest=True)

    async def _store(self, kind: str, key, rec: dict, deadline: float, *, local: bool = True) -> int:
        """Send ``rec`` to every replica (this node too unless ``local`` is False); return how many of the W
        needed acknowledged it durably before the deadline."""
        msg = {"type": "peer-put", "kind": kind, "key": key, "record": rec}
        coros = [self.store.put(kind, key, rec)] if local else []
        coros += [self._remote(l, msg, deadline) for l in self.links.values()]
        need = self.w if local else self.w - 1
        return len(await self._first(coros, need, deadline, cancel_rest=False))

    def _reachable(self) -> int:
        """Replicas a store could be sent to right now: this one plus peers not known to be down."""
        return 1 + sum(not l.known_down() for l in self.links.values())

    def _check_reachable(self) -> dict | None:
        n = self._reachable()
        if n < self.w:
            return err("unavailable", f"only {n} replicas reachable, {self.w} needed; nothing was sent")
        return None

    # ---------------------------------------------------------------------------------------------- reads

    async def _read(self, kind: str, key) -> tuple[dict | None, dict | None]:
        """(merged record, None) or (None, error reply)."""
        deadline = time.monotonic() + self.timeout
        replies = await self._query(kind, key, deadline)
        if len(replies) < self.r:
            return None, err("unavailable", f"{len(replies)} of {self.r} replicas answered the read")
        merged = records.merge_all(kind, replies)
        if self.write_back and merged is not None:
            holding = sum(records.covers(kind, rep, merged) for rep in replies)
            if holding < self.w:
                self.stats["write-backs"] += 1
                acks = await self._store(kind, key, merged, deadline)
                if acks < self.w:
                    return None, err("quorum-timeout", f"write-back reached {acks} of {self.w} replicas")
        return merged, None

    async def _read_register(self, key, _value) -> dict:
        rec, e = await self._read("reg", key)
        return e or ok(rec["x"] if rec else None, has_value=True)

    async def _set_read(self, key, _value) -> dict:
        rec, e = await self._read("set", key)
        return e or ok(records.set_value(rec), has_value=True)

    async def _counter_read(self, key, _value) -> dict:
        rec, e = await self._read("ctr", key)
        return e or ok(records.counter_value(rec), has_value=True)

    # ---------------------------------------------------------------------------------------------- updates

    async def _write_register(self, key, value) -> dict:
        deadline = time.monotonic() + self.timeout
        if self.read_before_write:
            replies = await self._query("reg", key, deadline)
            if len(replies) < self.r:
                return err("unavailable", f"{len(replies)} of {self.r} replicas answered the version query")
            version = records.next_version(max(records.version_of(r) for r in replies), self.me)
        else:
            version = records.wallclock_version(int(self.wallclock() * 1_000_000), self._last_wallclock_us,
                                                self.me)
            self._last_wallclock_us = version[0]
        if (e := self._check_reachable()) is not None:
            return e
        acks = await self._store("reg", key, {"v": list(version), "x": value}, deadline)
        if acks < self.w:
            return err("quorum-timeout", f"write reached {acks} of {self.w} replicas")
        return ok()

    async def _set_add(self, key, element) -> dict:
        element = records.check_element(element)
        deadline = time.monotonic() + self.timeout
        if (e := self._check_reachable()) is not None:
            return e
        acks = await self._store("set", key, {"e": [element]}, deadline)
        if acks < self.w:
            return err("quorum-timeout", f"add reached {acks} of {self.w} replicas")
        return ok()

    async def _counter_add(self, key, delta) -> dict:
        delta = records.check_delta(delta)
        deadline = time.monotonic() + self.timeout
        if (e := self._check_reachable()) is not None:
            return e
        ck = records.canonical(key)
        stored = records.own_entry(self.store.get("ctr", key), self.me)
        reserved = self._own_counter.get(ck, (0, 0))
        own = (max(stored[0], reserved[0]), max(stored[1], reserved[1]))
        # Reserve synchronously (no await in between), so concurrent adds here never compute the same total.
        new_own, rec = records.counter_increment(own, self.me, delta)
        self._own_counter[ck] = new_own
        # Own entry durable here first: if it went to peers first and this node then crashed, it would restart
        # below a total the peers already hold, and its next add would be swallowed by the max-merge.
        await self.store.put("ctr", key, rec)
        acks = 1 + await self._store("ctr", key, rec, deadline, local=False)
        if acks < self.w and self.variant == "retry-as-new":
            # The bug: the timed-out add is sent again as a new increment on top of the first one, which may
            # still arrive. (Resending the same record would be safe: the merge is idempotent.)
            self.stats["add-retries"] += 1
            new_own, rec = records.counter_increment(self._own_counter[ck], self.me, delta)
            self._own_counter[ck] = new_own
            await self.store.put("ctr", key, rec)
            acks = 1 + await self._store("ctr", key, rec, time.monotonic() + self.timeout, local=False)
        if acks < self.w:
            return err("quorum-timeout", f"add reached {acks} of {self.w} replicas")
        return ok()
