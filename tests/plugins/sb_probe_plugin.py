"""A test plugin (``--plugin sb_probe_plugin``, with this directory on PYTHONPATH): small systems that each probe one
part of the plugin path through the real CLI (tests/test_plugin_path.py).

* ``probe-primary``: the shipped echo node (one register per node, no replication), with a client that sends every
  op to one node, the "primary" (``n1``, or the ``primary`` option), found in the cluster view the runner gives
  clients: the register is linearizable only if every client really reaches that node. Completions name the node
  that answered. It is ready (``ready()``) only once every node answers and ``ready_after`` seconds have passed
  since the first call, and it knows its primaries (KnowsPrimaries) for ``--nemesis-targets primaries``.
* ``probe-never-ready``: the same, whose ``ready()`` never says yes (``ready_timeout`` is short).
* ``probe-silent``: a node that starts, prints a line and never opens its port.
* ``probe-faketime-hang``: a node that prints what libfaketime prints when it can't initialise, then hangs.
* ``probe-noshim``: the echo node declared to run without the clock shim (``faketime = False``).
* ``probe-blocking``: the echo node with a client that makes the classic mistake once: a blocking call
  (``time.sleep``, standing for a synchronous driver) inside ``async def invoke``, on the run's event loop.
"""

from __future__ import annotations

import asyncio
import time

from splitbrain.harness.api import Completion, Invocation, NodeAddress
from splitbrain.harness.jsonline_client import JsonLineClient, JsonLineConnection
from splitbrain.harness.systems import register_system
from splitbrain.harness.systems.echo import EchoSystem

FAKETIME_LINE = ("libfaketime: Unexpected recursive calls to clock_gettime() without proper initialization. "
                 "Trying alternative.")


class PrimaryClient(JsonLineClient):
    """Sends every op to the primary named in the cluster view, whatever node it is bound to."""

    def __init__(self, primary: str):
        super().__init__()
        self.primary = primary

    async def open(self, node: NodeAddress) -> None:
        target = self.cluster.address(self.primary)  # KeyError (a worker crash) if the view lacks it
        self.conn = JsonLineConnection(target)

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        done = await super().invoke(op, timeout)
        return Completion(done.type, done.value, done.error, node=self.primary)


class ProbePrimary(EchoSystem):
    name = "probe-primary"
    description = "test plugin: echo nodes, every client routed to the primary by the cluster view"
    ready_after = 1.0

    def __init__(self):
        self._first_ready_call: float | None = None

    def client(self, variant: str, options: dict):
        return PrimaryClient(str(options.get("primary", "n1")))

    async def _status(self, a: NodeAddress, timeout: float) -> dict:
        conn = JsonLineConnection(a)
        try:
            await conn.connect()
            return await conn.request({"type": "status"}, timeout)
        finally:
            await conn.close()

    async def ready(self, nodes: list[NodeAddress], timeout: float):
        if self._first_ready_call is None:
            self._first_ready_call = time.monotonic()
        replies = await asyncio.gather(*(self._status(a, timeout) for a in nodes))
        if not all(r.get("ok") for r in replies):
            return "a node did not answer its status"
        if time.monotonic() - self._first_ready_call < self.ready_after:
            return "replicas still syncing"
        return True

    async def primaries(self, nodes: list[NodeAddress], timeout: float) -> list[str]:
        return ["n1"]


class ProbeNeverReady(ProbePrimary):
    name = "probe-never-ready"
    description = "test plugin: never ready"
    ready_timeout = 1.5

    async def ready(self, nodes, timeout):
        return "replicas not synced yet"


class ProbeSilent(EchoSystem):
    name = "probe-silent"
    description = "test plugin: a node that never opens its port"
    start_timeout = 2.0

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-c", "import signal; print('probe node up, not listening', flush=True); signal.pause()"]


class ProbeFaketimeHang(ProbeSilent):
    name = "probe-faketime-hang"
    description = "test plugin: a node that hangs as servers do under libfaketime"

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-c", f"import signal; print({FAKETIME_LINE!r}, flush=True); signal.pause()"]


class ProbeNoShim(EchoSystem):
    name = "probe-noshim"
    description = "test plugin: echo nodes without the clock shim"
    faketime = False


class BlockingClient(JsonLineClient):
    """Blocks the event loop for ``block`` seconds in the run's first invoke (``once`` is shared by the run's
    clients), then behaves."""

    def __init__(self, block: float, once: list):
        super().__init__()
        self.block, self.once = block, once

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        if not self.once:
            self.once.append(op)
            time.sleep(self.block)  # the mistake under test: no await, the whole loop waits
        return await super().invoke(op, timeout)


class ProbeBlocking(EchoSystem):
    name = "probe-blocking"
    description = "test plugin: a client that blocks the event loop once"

    def __init__(self):
        self._once: list = []

    def client(self, variant: str, options: dict):
        return BlockingClient(float(options.get("block", 3.0)), self._once)


def register() -> None:
    for cls in (ProbePrimary, ProbeNeverReady, ProbeSilent, ProbeFaketimeHang, ProbeNoShim, ProbeBlocking):
        register_system(cls.name, f"sb_probe_plugin:{cls.__name__}")
