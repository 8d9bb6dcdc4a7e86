"""Workers: what the interpreter hands each op to. A client worker calls the system through its Client; the nemesis
worker applies fault plans to the cluster. The interpreter does not know which is which.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from splitbrain.harness.api import Client, ClusterView, Completion, Invocation, NodeAddress
from splitbrain.harness.client_errors import completion_for_error
from splitbrain.harness.generator.faults import HEAL_ALL
from splitbrain.nemesis.faults.heal import heal_all

log = logging.getLogger(__name__)


class ClientWorker:
    """One client thread bound to one node. Opens its client lazily and re-opens it after a crash (``info``), as a
    new Jepsen process would. Never raises for the system's errors: the client turns them into completions."""

    def __init__(self, make_client, node: NodeAddress, op_timeout: float, nodes: list[NodeAddress] | None = None):
        self._make_client = make_client
        self.node = node
        self.op_timeout = op_timeout
        #: What each client is told of the cluster (set on it before ``open``): its node and every node's address.
        self.view = ClusterView(node, tuple(nodes) if nodes else (node,))
        self._client: Client | None = None

    async def invoke(self, process: Any, op: Invocation) -> Completion:
        if self._client is None:
            failed = await self._open()
            if failed is not None:
                return completion_for_error("connection-refused", op.f, failed)
        try:
            # The client enforces op_timeout itself; the outer bound only guards against a client bug.
            done = await asyncio.wait_for(self._client.invoke(op, self.op_timeout), self.op_timeout + 2.0)
        except asyncio.TimeoutError:
            done = completion_for_error("timeout", op.f, "client did not honour its deadline")
        if done.type == "info":
            await self.close()  # a crashed process starts over with a fresh connection
        return done

    async def _open(self) -> str | None:
        """A new client, opened within the op's bound; None when it is open, else why not. An ``open`` that raises
        or hangs (connecting to a paused node) sent no op: the op fails, and the next one tries a fresh client."""
        client = self._make_client()
        client.cluster = self.view
        bound = self.op_timeout + 2.0
        try:
            await asyncio.wait_for(client.open(self.node), bound)
        except asyncio.TimeoutError:
            why = f"the client's open() did not finish within {bound:g} s"
        except Exception as e:  # the client's own error, before anything was sent
            why = f"the client's open() raised {type(e).__name__}: {e}"[:300]
        else:
            self._client = client
            return None
        log.debug("opening a client for %s: %s", self.node.name, why)
        try:
            await asyncio.wait_for(client.close(), 2.0)
        except Exception as e:  # closing what never opened may fail; nothing to recover
            log.debug("closing a client that did not open: %s", e)
        return why

    async def close(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            try:
                await c.close()
            except Exception as e:  # closing a broken connection may fail; nothing to recover
                log.debug("closing client for %s: %s", self.node.name, e)


class NemesisWorker:
    """Applies fault invocations (``start-partition``, ``kill``, ...) through the faults that own them, in a thread
    so that slow iptables or SSH calls never block the clients' event loop. Returns what was applied as the value.
    ``heal-all`` heals every fault of the run (the one heal path, :func:`splitbrain.nemesis.heal_all`). Each fault
    gets ``view`` (a :class:`splitbrain.nemesis.faults.view.SystemView`, or None) to resolve its own targets.

    Faults run on the worker's own threads, never on the event loop's default executor: a system's client may fill
    that pool with calls stuck on a paused node (psycopg, for one, sends a blocking cancel request there when a
    query times out), and a resume waiting behind them would never come. Two threads, so the final heal still runs
    when a fault's apply hangs. Must not: know any fault by name."""

    def __init__(self, cluster, faults: dict, view=None):
        self.cluster = cluster
        self.faults = faults
        self.view = view
        self._by_f = {}
        for fault in faults.values():
            for f in getattr(fault, "fs", ()):
                self._by_f[f] = fault
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="splitbrain-nemesis")

    async def _in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    async def invoke(self, process: Any, op: Invocation) -> Completion:
        if op.f == HEAL_ALL:
            return Completion("ok", await self.heal_all())
        fault = self._by_f.get(op.f)
        if fault is None:
            return Completion("info", None, f"no fault handles {op.f!r}")
        value = await self._in_thread(fault.apply, self.cluster, op, self.view)
        return Completion("ok", value)

    async def heal_all(self) -> dict:
        """Heal every fault of the run; ``{fault name: what its heal did}`` for the history."""
        return await self._in_thread(heal_all, self.cluster, self.faults)

    def close(self) -> None:
        """Let the threads go once their work is done (a hung apply is not waited for)."""
        self._pool.shutdown(wait=False)
