"""Adapter for crdt-store (systems_under_test/crdt_store): always-available CRDT replicas with causal broadcast.

The client maps the workload vocabulary onto the store's request types (see the server module docstring). Which
CRDT a workload uses comes from ``options["crdt_type"]`` if set, else from the workload name (``CRDT_FOR_WORKLOAD``):

====================  ==============================================================================
crdt type             ops (Invocation.f -> request type)
====================  ==============================================================================
``counter`` (PN)      add -> counter-add, read/final-read -> counter-read
``gcounter``          add -> gcounter-add, read/final-read -> gcounter-read
``set`` (OR-Set)      add -> set-add, remove -> set-remove, read/final-read -> set-read
``lww`` (also kv)     write -> lww-write, read/final-read -> lww-read (with the op's key)
``mv``                write -> mv-write, read/final-read -> mv-read
====================  ==============================================================================

``final-read`` is the convergence checker's final read (splitbrain.checkers.convergence); like ``read`` it changes nothing, so
a timed-out one is a ``fail``. ``final-read-all`` (value: a list of keys) reads those keys of this CRDT type in one
``state`` request, so a multi-key workload's final phase sees every key on every node; its result is
``[[key, value], ...]`` in the order asked, with the type's initial value (null, 0, []) for a key never written.
Before either final read the client waits (at most half the op timeout) until the node reports itself in sync with
every peer (``_settle``): a wait, never a verdict.

Workload names: ``crdt-counter``, ``crdt-set`` / ``or-set`` (the same OR-set workload), ``lww-register``,
``causal-kv`` are judged by convergence and causal checkers. ``counter`` (Jepsen's counter: every read within the
bounds of the adds around it) is linearizable-minded, and a correct CRDT counter serves stale reads during
partitions by design; so on this system it runs with ``read_fraction`` 0 by default: only the final reads, taken
after the heal, are judged against the bounds (``--option read_fraction=...`` brings the concurrent reads back, and
with them verdicts about linearizability that an always-available store does not promise). The system also reports each node's delivery log and state (``ReportsState``) for the
delivery-order checker.
"""

from __future__ import annotations

import asyncio
import json
import time

from splitbrain.harness.api import Completion, Invocation, NodeAddress, System
from splitbrain.harness.client_errors import completion_for_error, completion_for_exception
from splitbrain.harness.jsonline_client import JsonLineClient, JsonLineConnection

# Only workloads judged by convergence/causal checkers: the linearizable-minded ones (counter, set, register) would
# condemn a correct always-available store for its stale reads during partitions.
CRDT_FOR_WORKLOAD = {"crdt-counter": "counter", "counter": "counter", "crdt-set": "set", "or-set": "set",
                     "lww-register": "lww", "causal-kv": "lww"}

#: The value a never-written object reads as, per crdt type (what the server's reads answer).
INITIAL = {"counter": 0, "gcounter": 0, "set": [], "lww": None, "mv": []}
FINAL_READ_ALL = "final-read-all"

_OPS = {
    "counter": {"add": "counter-add", "read": "counter-read"},
    "gcounter": {"add": "gcounter-add", "read": "gcounter-read"},
    "set": {"add": "set-add", "remove": "set-remove", "read": "set-read"},
    "lww": {"write": "lww-write", "read": "lww-read"},
    "mv": {"write": "mv-write", "read": "mv-read"},
}

READ_FS = frozenset({"read", "final-read", FINAL_READ_ALL})
FINAL_FS = frozenset({"final-read", FINAL_READ_ALL})
SETTLE_SHARE = 0.5   # of a final read's timeout, at most, spent waiting for the node to report itself in sync
SETTLE_POLL = 0.05   # s between status polls while settling


def _in_sync(status: dict) -> bool:
    """A node's ``status`` says: nothing pending, and every peer link up and caught up with what it delivered."""
    delivered = status.get("delivered") or {}
    peers = status.get("peers") or {}
    if status.get("pending", 1) != 0:
        return False
    for p in peers.values():
        known = p.get("known") or {}
        if not p.get("up") or any(known.get(o, 0) < n for o, n in delivered.items()):
            return False
    return True


class CrdtClient(JsonLineClient):
    def __init__(self, crdt_type: str):
        super().__init__()
        if crdt_type not in _OPS:
            raise ValueError(f"unknown crdt type {crdt_type!r} (known: {', '.join(sorted(_OPS))})")
        self.crdt_type = crdt_type

    def to_request(self, op: Invocation) -> dict:
        if op.f == FINAL_READ_ALL:
            if not isinstance(op.value, list):
                raise ValueError("final-read-all needs the list of keys to read as its value")
            return {"type": "state"}
        f = "read" if op.f in READ_FS else op.f
        rtype = _OPS[self.crdt_type].get(f)
        if rtype is None:
            raise ValueError(f"crdt-store's {self.crdt_type} does not support {op.f!r}")
        req = {"type": rtype}
        if op.key is not None:
            req["key"] = op.key
        if f != "read":
            req["value"] = op.value
        return req

    def from_reply(self, op: Invocation, reply: dict) -> Completion:
        f = "read" if op.f in READ_FS else op.f  # a final read is a read to the error table
        if reply.get("ok"):
            if op.f == FINAL_READ_ALL:
                return Completion("ok", self._pick(op.value, reply.get("value")))
            return Completion("ok", reply.get("value") if f == "read" else op.value)
        return completion_for_error(str(reply.get("error", "crashed")), f, reply.get("detail"))

    def _pick(self, keys: list, state) -> list:
        """``[[key, value], ...]`` for ``keys`` from a ``state`` reply (this client's crdt type only)."""
        entries = state.get(self.crdt_type, []) if isinstance(state, dict) else []
        have = {json.dumps(k, sort_keys=True): v for k, v in entries}
        return [[k, have.get(json.dumps(k, sort_keys=True), INITIAL[self.crdt_type])] for k in keys]

    async def _settle(self, budget: float) -> None:
        """Before a final read: wait, at most ``budget`` seconds, until the node reports that it holds no pending
        update and that every peer link is up and has acknowledged everything it delivered. Only a wait: the read
        that follows is judged whatever the node said, so a replica that never catches up is still caught; a
        correct one slowed by a loaded machine gets a little longer to finish its anti-entropy round."""
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            try:
                st = (await self.conn.request({"type": "status"}, max(0.05, deadline - time.monotonic()))
                      ).get("value") or {}
            except Exception:  # noqa: BLE001 - the read itself will meet and report the same trouble
                return
            if _in_sync(st):
                return
            await asyncio.sleep(SETTLE_POLL)

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        f = "read" if op.f in READ_FS else op.f
        try:
            req = self.to_request(op)
        except ValueError as e:
            return completion_for_error("unsupported", f, str(e))
        sent = False
        try:
            if self.conn._writer is None:
                await self.conn.connect()
            start = time.monotonic()
            if op.f in FINAL_FS:
                await self._settle(timeout * SETTLE_SHARE)
            sent = True
            reply = await self.conn.request(req, max(0.05, timeout - (time.monotonic() - start)))
        except Exception as e:
            return completion_for_exception(e, f, sent=sent)
        return self.from_reply(op, reply)


class CrdtStoreSystem(System):
    name = "crdt-store"
    description = "always-available CRDT replicas (counters, OR-set, LWW/MV registers) with causal broadcast"
    variants = {
        "correct": "",
        "fifo-only": "delivers per-sender in order but not causally: an update can overtake one it depends on",
        "lww-wallclock": "LWW timestamps from the replica's wall clock: under clock skew a later write loses",
        "two-phase-set": "a removed element can never come back: re-adds are acknowledged and lost",
        "no-anti-entropy": "updates dropped while a link was down never arrive, so replicas never converge",
    }
    workloads = tuple(sorted(CRDT_FOR_WORKLOAD))
    base_port = 7000
    package = "splitbrain.systems_under_test.crdt_store"

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.crdt_store.server", "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        # A little link delay by default, so updates on different paths really race (fifo-only shows up).
        return {
            "anti_entropy_interval": float(options.get("anti_entropy_interval", 0.5)),
            "ack_timeout": float(options.get("ack_timeout", 1.0)),
            "link_delay": list(options.get("link_delay", [0.0, 0.05])),
        }

    def workload_options(self, workload: str) -> dict:
        # Jepsen's counter judges every read by real-time bounds; see the module docstring for why only the final
        # reads are taken here.
        return {"read_fraction": 0.0} if workload == "counter" else {}

    def client(self, variant: str, options: dict) -> CrdtClient:
        crdt_type = options.get("crdt_type") or CRDT_FOR_WORKLOAD.get(options.get("workload", ""), "lww")
        return CrdtClient(crdt_type)

    async def node_state(self, node: NodeAddress, timeout: float) -> dict:
        """``{"status", "state", "delivery_log"}`` of one node (ReportsState): the log is fetched in pages."""
        conn = JsonLineConnection(node)
        try:
            status = (await conn.request({"type": "status"}, timeout)).get("value")
            state = (await conn.request({"type": "state"}, timeout)).get("value")
            entries: list = []
            while True:
                page = (await conn.request({"type": "delivery-log", "since": len(entries), "limit": 5000},
                                           timeout))["value"]
                entries.extend(page["entries"])
                if not page["entries"] or len(entries) >= page["total"]:
                    break
            return {"status": status, "state": state, "delivery_log": entries}
        finally:
            await conn.close()
