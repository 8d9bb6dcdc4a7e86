"""Workers: what the interpreter hands each op to. A client worker calls the system through its Client; the nemesis
worker applies fault plans to the cluster. The interpreter does not know which is which.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from splitbrain.harness.api import Client, ClusterView, Completion, Invocation, NodeAddress
from splitbrain.harness.client_errors import completion_for_error

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
            self._client = self._make_client()
            self._client.cluster = self.view
            await self._client.open(self.node)
        try:
            # The client enforces op_timeout itself; the outer bound only guards against a client bug.
            done = await asyncio.wait_for(self._client.invoke(op, self.op_timeout), self.op_timeout + 2.0)
        except asyncio.TimeoutError:
            done = completion_for_error("timeout", op.f, "client did not honour its deadline")
        if done.type == "info":
            await self.close()  # a crashed process starts over with a fresh connection
        return done

    async def close(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            try:
                await c.close()
            except Exception as e:  # closing a broken connection may fail; nothing to recover
                log.debug("closing client for %s: %s", self.node.name, e)


class NemesisWorker:
    """Applies fault invocations (``start-partition``, ``kill``, ...) through the nemesis packages, in a thread so
    that slow iptables or SSH calls never block the clients' event loop. Returns what was applied as the value."""

    def __init__(self, cluster, packages: dict, leader_fn=None):
        self.cluster = cluster
        self.packages = packages
        self._by_f = {}
        for pkg in packages.values():
            for f in getattr(pkg, "fs", ()):
                self._by_f[f] = pkg
        self.leader_fn = leader_fn
        # For packages that steer by the nodes' own view (``wants_roles``): node names -> {name: {role, term}},
        # called from the package's thread. Set by the runner when the system reports roles.
        self.roles_fn = None

    async def invoke(self, process: Any, op: Invocation) -> Completion:
        pkg = self._by_f.get(op.f)
        if pkg is None:
            return Completion("info", None, f"no fault package handles {op.f!r}")
        extra = {"roles": self.roles_fn} if getattr(pkg, "wants_roles", False) else {}
        value = await asyncio.to_thread(pkg.apply, self.cluster, op, **extra)
        return Completion("ok", value)

    async def heal_all(self) -> list[tuple[str, Any]]:
        """Run every package's final heal; returns (package name, what it did) for the history."""
        done = []
        for name, pkg in self.packages.items():
            try:
                done.append((name, await asyncio.to_thread(pkg.heal, self.cluster)))
            except Exception as e:
                log.warning("healing %s failed: %s", name, e)
                done.append((name, {"error": f"{type(e).__name__}: {e}"}))
        return done
