"""The coordinator: runs a client's transaction across the shards with two-phase commit.

1. Split the micro-ops by the shard that owns each key (``owner``) and send each participant its part
   (``prepare``), all at once. A participant votes yes with its reads' results, or no.
2. Decide: commit if every participant voted yes in time, else abort. The decision is logged durably *before*
   anyone hears it, so it can be repeated after a crash.
3. Answer the client (ok with the results in the transaction's order, or ``aborted``: a definite failure, since an
   abort decision is final) and deliver the decision to the participants in the background (batched: after
   ``DELIVER_AFTER``), retrying until each acknowledged (they also ask, see participant.py).

``decide(tx)`` answers a participant's inquiry: the logged decision; ``None`` while the transaction is still in
phase one here; and for a transaction this node has no record of (it crashed before deciding), abort, logged
first (presumed abort: nothing was promised to the client).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os

log = logging.getLogger(__name__)

#: Seconds a decision waits before it is delivered: decisions go out in small batches (fewer messages under load),
#: so a participant stays prepared, in doubt, that long after the client heard the outcome. Correctness never
#: depends on it (locks are held until the decision arrives); the seeded bugs need the window.
DELIVER_AFTER = 0.1
#: Seconds between deliveries of a decision a participant has not acknowledged, and how long to keep trying (the
#: participant asks on its own as well).
DELIVER_EVERY = 0.3
DELIVER_FOR = 30.0


def owner(key, nodes: list[str]) -> str:
    """The node whose shard holds ``key``: integers by value, anything else by its text."""
    if isinstance(key, int) and not isinstance(key, bool):
        return nodes[key % len(nodes)]
    return nodes[sum(str(key).encode()) % len(nodes)]


class Coordinator:
    def __init__(self, name: str, nodes: list[str], participant, txlog, call, timeout: float):
        """``call(node, msg, timeout)`` sends a peer message (or runs it locally for this node) and returns the
        reply dict; ``timeout`` bounds phase one (lock waits included)."""
        self.name = name
        self.nodes = sorted(nodes)
        self.participant = participant
        self.log = txlog
        self.call = call
        self.timeout = timeout
        self.decisions = participant.decisions   # tx -> True/False, replayed from the log
        self.active: set = set()
        self._ids = itertools.count(1)
        self._boot = os.urandom(4).hex()
        self._tasks: set = set()
        self.stats = {"committed": 0, "aborted": 0}

    async def run(self, mops: list) -> dict:
        tx = f"{self.name}-{self._boot}-{next(self._ids)}"
        parts: dict = {}
        where = []   # (participant, position in its part) per micro-op
        for m in mops:
            node = owner(m[1], self.nodes)
            part = parts.setdefault(node, [])
            where.append((node, len(part)))
            part.append(m)
        self.active.add(tx)
        try:
            replies = await asyncio.gather(*(self._prepare(node, tx, part) for node, part in parts.items()))
            commit = all(r.get("ok") and r.get("vote") for r in replies)
            self.log.append({"t": "decision", "tx": tx, "commit": commit})
            self.decisions[tx] = commit
        finally:
            self.active.discard(tx)
        self._deliver_later(tx, commit, list(parts))
        if not commit:
            self.stats["aborted"] += 1
            why = next((r.get("why") or r.get("detail") or r.get("error") for r in replies
                        if not (r.get("ok") and r.get("vote"))), "")
            return {"ok": False, "error": "aborted", "detail": f"transaction aborted: {why}"}
        self.stats["committed"] += 1
        results = dict(zip(parts, (r["results"] for r in replies)))
        return {"ok": True, "value": [results[node][i] for node, i in where]}

    async def _prepare(self, node: str, tx: str, part: list) -> dict:
        try:
            return await self.call(node, {"type": "prepare", "tx": tx, "coord": self.name, "mops": part,
                                          "lock_timeout": self.timeout * 0.6}, self.timeout)
        except Exception as e:  # noqa: BLE001 - no vote in time is a no
            return {"ok": False, "error": "unreachable", "detail": f"{node}: {type(e).__name__}"}

    def _deliver_later(self, tx: str, commit: bool, nodes: list) -> None:
        t = asyncio.ensure_future(self._deliver(tx, commit, nodes))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _deliver(self, tx: str, commit: bool, nodes: list) -> None:
        loop = asyncio.get_running_loop()
        stop = loop.time() + DELIVER_FOR
        pending = list(nodes)
        await asyncio.sleep(DELIVER_AFTER)
        while pending and loop.time() < stop:
            msg = {"type": "commit" if commit else "abort", "tx": tx}
            replies = await asyncio.gather(*(self._send(n, msg) for n in pending))
            pending = [n for n, ok in zip(pending, replies) if not ok]
            if pending:
                await asyncio.sleep(DELIVER_EVERY)

    async def _send(self, node: str, msg: dict) -> bool:
        try:
            return bool((await self.call(node, msg, 1.0)).get("ok"))
        except Exception:  # noqa: BLE001 - retried
            return False

    def decide(self, tx: str) -> bool | None:
        if tx in self.decisions:
            return self.decisions[tx]
        if tx in self.active:
            return None
        self.log.append({"t": "decision", "tx": tx, "commit": False})
        self.decisions[tx] = False
        return False
