"""The participant: the shard's data, its locks, and the prepared transactions.

``prepare(tx, coord, mops)`` takes an exclusive lock on every key the transaction touches here (in key order, with
a deadline: a lock not granted in time votes no, which also breaks deadlocks across shards), runs the micro-ops on
the committed values, logs the prepare record durably and votes yes with the reads' results. The locks are held
until the outcome arrives (strict two-phase locking): ``commit`` applies the prepared writes and logs it, ``abort``
drops them. A prepared transaction whose outcome does not come asks its coordinator (``inquire``) until it gets
one: the blocking of 2PC. On start, transactions prepared but not decided in the log are in doubt again: their
locks are taken back before the node serves anything, and they are resolved by asking.

Variants (bugs): ``no-durable-prepare`` keeps the prepare record in memory only (not even written: a write
without fsync survives kill -9 in the page cache, which would hide the bug), so a killed participant forgets
a transaction it voted yes for and acknowledges its commit without applying it (atomicity lost);
``early-lock-release`` releases the locks once it voted (another transaction then prepares on the old values and
overwrites the first: lost updates); ``read-uncommitted`` lets reads skip the locks and see prepared, uncommitted
values (aborted and intermediate reads); ``presumed-commit`` commits in-doubt transactions on recovery without
asking the coordinator.
"""

from __future__ import annotations

import asyncio
import logging

from .txlog import TxLog

log = logging.getLogger(__name__)

#: Seconds between inquiries about a transaction in doubt.
INQUIRE_EVERY = 0.3


class Participant:
    def __init__(self, txlog: TxLog, variant: str, inquire):
        """``inquire(coord, tx) -> True | False | None`` (commit, abort, not known yet) asks a coordinator."""
        self.log = txlog
        self.variant = variant
        self._inquire = inquire
        self.data, in_doubt, self.decisions = txlog.replay()
        self.locks: dict = {}         # key -> tx holding it
        self._freed: dict = {}        # key -> Event set when its lock is released
        self.prepared: dict = {}      # tx -> {"coord", "writes": [[k, v]], "keys": [...]}
        self.done: set = set()        # transactions whose outcome was applied since start
        self._tasks: set = set()
        self.stats = {"prepared": 0, "committed": 0, "aborted": 0, "no-votes": 0, "in-doubt-recovered": 0}
        for tx, rec in in_doubt.items():
            keys = [k for k, _ in rec["writes"]] + rec.get("read_keys", [])
            for k in keys:
                self.locks[_k(k)] = tx
            self.prepared[tx] = {"coord": rec["coord"], "writes": rec["writes"], "keys": [_k(k) for k in keys]}
            self.stats["in-doubt-recovered"] += 1

    def start(self) -> None:
        """Resolve what recovery found in doubt (call once the event loop runs)."""
        for tx in list(self.prepared):
            if self.variant == "presumed-commit":
                log.warning("in-doubt %s: committing without asking (presumed-commit)", tx)
                self.commit(tx)
            else:
                self._resolve_later(tx)

    # --- locks ---

    async def _lock(self, keys: list, tx: str, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        got = []
        try:
            for k in keys:
                while self.locks.get(k, tx) != tx:
                    left = deadline - loop.time()
                    if left <= 0:
                        self._unlock(got, tx)
                        return False
                    ev = self._freed.setdefault(k, asyncio.Event())
                    try:
                        await asyncio.wait_for(ev.wait(), left)
                    except asyncio.TimeoutError:
                        pass  # the loop sees the deadline has passed
                self.locks[k] = tx
                got.append(k)
        except BaseException:
            self._unlock(got, tx)  # cancelled (a local prepare the coordinator gave up on): hold nothing
            raise
        return True

    def _unlock(self, keys, tx: str) -> None:
        for k in keys:
            if self.locks.get(k) == tx:
                del self.locks[k]
                ev = self._freed.pop(k, None)
                if ev is not None:
                    ev.set()

    # --- the protocol ---

    def _read(self, k):
        if self.variant == "read-uncommitted":
            holder = self.locks.get(k)
            p = self.prepared.get(holder) if holder else None
            if p is not None:
                for kk, v in p["writes"]:
                    if kk == k:
                        return v
        return self.data.get(k)

    async def prepare(self, tx: str, coord: str, mops: list, lock_timeout: float) -> dict:
        """Vote on ``tx``: ``{"vote": True, "results": mops with reads filled}`` or ``{"vote": False, "why"}``."""
        if tx in self.prepared or tx in self.done:
            return {"vote": False, "why": "transaction seen before"}
        written = sorted({_k(m[1]) for m in mops if m[0] != "r"}, key=repr)
        locked = sorted({_k(m[1]) for m in mops} if self.variant != "read-uncommitted" else written, key=repr)
        deadline = asyncio.get_running_loop().time() + lock_timeout
        if not await self._lock(locked, tx, deadline):
            self.stats["no-votes"] += 1
            return {"vote": False, "why": "lock timeout"}
        if tx in self.done:  # the abort overtook this prepare while it waited for its locks
            self._unlock(locked, tx)
            return {"vote": False, "why": "aborted meanwhile"}
        view: dict = {}
        results = []
        for f, k, v in mops:
            key = _k(k)
            cur = view[key] if key in view else self._read(key)
            if f == "r":
                results.append([f, k, cur])
            elif f == "append":
                view[key] = (cur or []) + [v]
                results.append([f, k, v])
            else:
                view[key] = v
                results.append([f, k, v])
        writes = [[k, v] for k, v in view.items()]
        read_keys = [k for k in locked if k not in view]
        if self.variant != "no-durable-prepare":
            self.log.append({"t": "prepare", "tx": tx, "coord": coord, "writes": writes, "read_keys": read_keys})
        self.prepared[tx] = {"coord": coord, "writes": writes, "keys": locked}
        self.stats["prepared"] += 1
        if self.variant == "early-lock-release":
            self._unlock(locked, tx)
        self._resolve_later(tx)
        return {"vote": True, "results": results}

    def commit(self, tx: str) -> None:
        p = self.prepared.pop(tx, None)
        if p is None:
            return  # already applied, or never known here (no-durable-prepare forgets; acknowledged anyway)
        for k, v in p["writes"]:
            self.data[_k(k)] = v
        self.log.append({"t": "commit", "tx": tx})
        self.done.add(tx)
        self._unlock(p["keys"], tx)
        self.stats["committed"] += 1

    def abort(self, tx: str) -> None:
        p = self.prepared.pop(tx, None)
        self.done.add(tx)
        if p is None:
            return
        self.log.append({"t": "abort", "tx": tx}, durable=False)  # losing it only means asking again
        self._unlock(p["keys"], tx)
        self.stats["aborted"] += 1

    def _resolve_later(self, tx: str) -> None:
        t = asyncio.ensure_future(self._resolve(tx))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _resolve(self, tx: str) -> None:
        """Ask the coordinator about ``tx`` until it says, unless the outcome arrives first (bounded by the
        process's life: 2PC blocks while the coordinator is away)."""
        await asyncio.sleep(INQUIRE_EVERY * 2)
        while tx in self.prepared:
            try:
                outcome = await self._inquire(self.prepared[tx]["coord"], tx)
            except Exception as e:  # noqa: BLE001 - an unreachable coordinator: ask again later
                log.debug("inquiry about %s failed: %s", tx, e)
                outcome = None
            if outcome is True:
                self.commit(tx)
            elif outcome is False:
                self.abort(tx)
            else:
                await asyncio.sleep(INQUIRE_EVERY)


def _k(k):
    return tuple(k) if isinstance(k, list) else k
