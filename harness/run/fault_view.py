"""The nemesis's view of a running system: what a fault may ask when it is applied (who leads, the primaries, every
node's role), answered by the system's capabilities (KnowsLeader, KnowsPrimaries, ReportsRoles).

Implements :class:`splitbrain.nemesis.faults.view.SystemView` for the runner: a fault runs in the nemesis worker's
thread, and the system's calls are coroutines, so each call runs on the runner's event loop and the thread waits
for it. A capability the system lacks answers None (the fault then keeps its plan's fallback nodes).
Must not: be called on the event loop's own thread (it would wait for itself).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Sequence

from splitbrain.harness.api import KnowsLeader, KnowsPrimaries, NodeAddress, ReportsRoles

log = logging.getLogger(__name__)


class SystemFaultView:
    def __init__(self, system, addrs: Sequence[NodeAddress], op_timeout: float, loop: asyncio.AbstractEventLoop,
                 nodes: Sequence[str] | None = None, poll: float = 0.1):
        self.system = system
        self.addrs = list(addrs)
        #: The cluster's node names: an answer naming anything else is not a node a fault can hit.
        self.nodes = list(nodes) if nodes is not None else [a.name for a in self.addrs]
        self.op_timeout = op_timeout
        self.loop = loop
        self.poll = poll
        self._by_name = {a.name: a for a in self.addrs}
        #: When the run's client load ends (time.monotonic()), set by the runner as the load starts.
        self.ends_at: float | None = None

    def time_left(self) -> float | None:
        return None if self.ends_at is None else self.ends_at - time.monotonic()

    def _wait(self, coro, seconds: float):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout=seconds)
        finally:
            fut.cancel()  # after a timeout: the call must not run on (harmless once it is done)

    def leader(self):
        """The leader the system reports, asking again every ``poll`` s for up to one op timeout: an election in
        progress usually ends within that, and a fault aimed at "the leader" should hit one."""
        if not isinstance(self.system, KnowsLeader):
            return None

        def answer(found):
            leader, term = found if found else (None, None)
            # not a node of this cluster: no leader to aim at
            return (leader, term) if leader in self.nodes else (None, term)
        return self._wait(self._ask_until_found(lambda: self.system.leader(self.addrs, self.op_timeout), answer,
                                                lambda a: a[0] is not None), self.op_timeout * 2 + 5.0)

    def primaries(self):
        """The primaries the system reports (those that are nodes of this cluster), asking again every ``poll`` s
        for up to one op timeout."""
        if not isinstance(self.system, KnowsPrimaries):
            return None
        return self._wait(self._ask_until_found(lambda: self.system.primaries(self.addrs, self.op_timeout),
                                                lambda found: sorted(n for n in (found or []) if n in self.nodes),
                                                bool), self.op_timeout * 2 + 5.0)

    async def _ask_until_found(self, ask, answer, found):
        """``answer(await ask())`` until ``found`` of it, or one op timeout has passed (then the last answer). A
        failed call (nodes down or cut off) counts as no answer."""
        deadline = time.monotonic() + self.op_timeout
        while True:
            try:
                got = answer(await ask())
            except Exception as e:  # nodes down or cut off: ask again
                log.debug("poll of the system: %s", e)
                got = answer(None)
            if found(got) or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(self.poll)

    def roles(self, nodes):
        """One quick poll of the given nodes' roles; {} when none answered (down or cut off)."""
        if not isinstance(self.system, ReportsRoles):
            return None
        try:
            return self._wait(self.system.roles([self._by_name[n] for n in nodes], 0.3), 2.0)
        except Exception as e:  # nodes down or cut off answer nothing; the fault waits and asks again
            log.debug("roles poll: %s", e)
            return {}
