"""The harness side of twopc-kv (systems_under_test/twopc_kv): a sharded store with two-phase commit.

The client is the generic JSON-lines one: a ``txn`` op goes out as ``{"type": "txn", "value": micro-ops}`` and the
reply's value (the micro-ops with reads filled) is the completion. ``aborted`` is a definite failure (the
coordinator logged the abort before answering); a timeout is ``info``: 2PC blocks while a coordinator is away, and
a transaction whose coordinator died after phase one may still commit when it comes back. A client whose node is
down sends its transactions to another node (``TwoPCClient``): any node coordinates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno

from splitbrain.harness.api import Completion, Invocation, NodeAddress, System
from splitbrain.harness.client_errors import completion_for_exception
from splitbrain.harness.jsonline_client import JsonLineClient, JsonLineConnection
from splitbrain.history.errors import BadInput


class TwoPCClient(JsonLineClient):
    """The JSON-lines client, plus failover: any node coordinates, so when the client's own node refuses the
    connection (it is down: nothing was sent) the transaction goes to the next node, in node order, that accepts
    one, as a client given a list of servers does (the history names it: ``answered_by``). Only refusals fail
    over: a request that was sent and got no answer may have run, and stays ``info``. Every op tries its own node
    first (it may be back)."""

    def __init__(self) -> None:
        super().__init__()
        self._conns: dict[str, JsonLineConnection] = {}

    async def open(self, node: NodeAddress) -> None:
        await super().open(node)
        self._conns = {node.name: self.conn}

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        view = getattr(self, "cluster", None)
        order = [self.conn.node, *(view.others if view is not None else ())]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        refused: Exception | None = None
        for addr in order:
            conn = self._conns.setdefault(addr.name, JsonLineConnection(addr, connect_timeout=timeout))
            try:
                if conn._writer is None:
                    await asyncio.wait_for(conn.connect(), max(0.01, deadline - loop.time()))
            except OSError as e:
                if e.errno != errno.ECONNREFUSED:
                    return completion_for_exception(e, op.f, sent=False)
                refused = e
                continue
            except Exception as e:  # noqa: BLE001 - unreachable in another way: nothing was sent, say so
                return completion_for_exception(e, op.f, sent=False)
            try:
                reply = await conn.request(self.to_request(op), max(0.01, deadline - loop.time()))
            except Exception as e:  # noqa: BLE001 - sent: the error table says info
                return completion_for_exception(e, op.f, sent=True)
            done = self.from_reply(op, reply)
            return done if addr is order[0] else dataclasses.replace(done, node=addr.name)
        return completion_for_exception(refused or ConnectionRefusedError("no node accepted"), op.f, sent=False)

    async def close(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            await c.close()


class TwoPCKV(System):
    name = "twopc-kv"
    description = ("A sharded key-value store (a shard per node) with two-phase commit across shards: strict "
                   "two-phase locking, a durable prepare and decision log, in-doubt recovery by asking the "
                   "coordinator (which blocks while the coordinator is away, as 2PC does).")
    variants = {
        "correct": "",
        "no-durable-prepare": "a participant keeps its prepare record in memory only: killed after voting yes, it "
                              "forgets the transaction and acknowledges the commit without applying it (atomicity "
                              "lost)",
        "early-lock-release": "a participant releases its locks once it voted yes: another transaction prepares on "
                              "the old values and overwrites the first (lost updates, G-single)",
        "read-uncommitted": "reads skip the locks and see prepared, uncommitted writes (G1a aborted reads, G1b)",
        "presumed-commit": "a participant that restarts with transactions in doubt commits them without asking "
                           "the coordinator (aborted transactions' writes appear: G1a)",
    }
    workloads = ("list-append", "rw-register")
    base_port = 7000
    package = "splitbrain.systems_under_test.twopc_kv"

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.twopc_kv.server", "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        """Phase one (lock waits included) must end before the client gives up, else an abort the coordinator
        decided would be recorded as an unknown outcome: ``timeout`` is three quarters of ``op_timeout``."""
        if variant not in self.variants:
            raise BadInput(f"twopc-kv has no variant {variant!r} (known: {', '.join(self.variants)})", "--variant")
        if options.get("coordinator_timeout") is not None:
            return {"timeout": float(options["coordinator_timeout"])}
        if options.get("op_timeout"):
            return {"timeout": round(0.75 * float(options["op_timeout"]), 3)}
        return {}

    def workload_options(self, workload: str) -> dict:
        """Keys live 8 s (not 2): a killed participant is down for the fault's duration (3 s by default), and what
        it did wrong on recovery shows only in reads of the keys it held, so those keys had better still be in use
        (the workload also reads retired keys now and then, and at the end: harness/workloads/txn.py)."""
        return {"key_window_s": 8.0}

    def client(self, variant: str, options: dict) -> JsonLineClient:
        if options.get("workload") not in self.workloads:
            raise BadInput(f"twopc-kv speaks only transactions (workloads: {', '.join(self.workloads)})",
                           "--workload")
        return TwoPCClient()
