"""Redis replication as a splitbrain system: one primary (``n1``) and replicas that copy it (``replicaof``).

What splitbrain needs to know, and where it is here:

* how a node starts: ``launch.py`` (``redis-server`` with flags; replicas with ``--replicaof`` the primary);
* who the primary is: :meth:`Redis.primaries` asks every node ``INFO replication`` (``role:master``);
  :meth:`Redis.leader` names the node clients write to; clients find its address in their cluster view
  (:meth:`Redis.primary_for`);
* when load may start: :meth:`Redis.ready`: the primary answers as one and every replica's link to it is up;
* ``failover`` only: a naive failover manager (started by ``ready``) that promotes the replica with the most
  replicated data (``REPLICAOF NO ONE``, the others re-pointed at it) once no replica has had a live link to the
  primary for ``failover_after`` seconds, and from then on calls it the primary. Replication is asynchronous
  there, so what the old primary acknowledged and had not shipped is lost; a primary cut off from its replicas
  (but not from clients) goes on acknowledging writes that the new primary never sees.

Variants: ``wait`` (writes acknowledged after ``WAIT`` for one replica, so a majority of three has them; reads and
writes on the primary; no failover), ``replica-reads`` (the same writes, reads answered by the client's own node,
often a replica), ``failover`` (no WAIT, and the failover manager).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from splitbrain.api import ClusterView, NodeAddress, System

from splitbrain_redis.client import RedisClient, connect, discard, info_replication

log = logging.getLogger(__name__)

PRIMARY = "n1"


class Redis(System):
    name = "redis"
    description = "Redis (Debian's redis-server) replication: one primary, replicas; clients find the primary"
    variants = {
        "wait": "",
        "replica-reads": "reads are answered by the client's own node, often a replica that has not applied the "
                         "latest writes (stale reads)",
        "failover": "asynchronous replication, and a replica is promoted when the replicas lose the primary: "
                    "acknowledged writes that had not reached it are lost",
    }
    workloads = ("register", "kv", "set")
    base_port = 6379
    # Under libfaketime redis-server hangs at start (jemalloc's first clock_gettime recurses into the shim:
    # "libfaketime: Unexpected recursive calls to clock_gettime()"), so its nodes run without the clock shim.
    faketime = False
    start_timeout = 30.0
    ready_timeout = 60.0
    failover_after = 1.0   # seconds without any replica linked to the primary before `failover` promotes one

    def __init__(self) -> None:
        self.variant = "wait"
        self._promoted: str | None = None
        self._monitor: asyncio.Task | None = None

    # ------------------------------------------------------------------------------------------ starting nodes

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, str(Path(__file__).with_name("launch.py")), "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        self.variant = variant
        return {"primary": PRIMARY, **{k: options[k] for k in ("redis_server",) if k in options}}

    def client(self, variant: str, options: dict) -> RedisClient:
        self.variant = variant
        return RedisClient(self, options.get("workload", "register"), local_reads=variant == "replica-reads",
                           wait_replicas=0 if variant == "failover" else 1)

    # ------------------------------------------------------------------------------------------ roles

    async def statuses(self, nodes: list[NodeAddress], timeout: float) -> dict[str, dict]:
        got = await asyncio.gather(*(info_replication(a, timeout) for a in nodes))
        return {a.name: s for a, s in zip(nodes, got) if s is not None}

    async def primaries(self, nodes: list[NodeAddress], timeout: float) -> list[str]:
        """Every node that says ``role:master`` (two after a failover whose old primary came back)."""
        return sorted(n for n, s in (await self.statuses(nodes, timeout)).items() if s.get("role") == "master")

    async def leader(self, nodes: list[NodeAddress], timeout: float) -> tuple[str | None, int | None]:
        """The node clients write to, if it answers as a primary; "term" 1, or 2 after a failover."""
        chosen = self._promoted or PRIMARY
        return (chosen, 2 if self._promoted else 1) if chosen in await self.primaries(nodes, timeout) else (None,
                                                                                                          None)

    def primary_for(self, view: ClusterView) -> NodeAddress:
        """The node a client sends writes to: the configured primary, or the promoted replica after a failover;
        its address from the client's cluster view (namespaces and SSH alike)."""
        return view.address(self._promoted or PRIMARY)

    # ------------------------------------------------------------------------------------------ readiness

    async def ready(self, nodes: list[NodeAddress], timeout: float):
        """The primary answers as one, and every replica's link to it is up (a full sync done)."""
        st = await self.statuses(nodes, timeout)
        prim = st.get(PRIMARY)
        if prim is None or prim.get("role") != "master":
            return f"{PRIMARY} does not answer as the primary yet"
        linked = [n for n, s in st.items() if n != PRIMARY and s.get("master_link_status") == "up"]
        if len(linked) < len(nodes) - 1:
            return f"{len(linked)} of {len(nodes) - 1} replicas are linked to {PRIMARY}"
        if self.variant == "failover" and self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(self._failover_manager(nodes))
        return True

    async def _failover_manager(self, nodes: list[NodeAddress], poll: float = 0.25) -> None:
        """Promote the most advanced replica once no replica has been linked for ``failover_after`` s; once."""
        lost_since = None
        while self._promoted is None:
            st = await self.statuses(nodes, 0.5)
            replicas = {n: s for n, s in st.items() if s.get("role") == "slave"}
            if replicas and not any(s.get("master_link_status") == "up" for s in replicas.values()):
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since >= self.failover_after:
                    best = max(replicas, key=lambda n: (int(replicas[n].get("slave_repl_offset", 0)), n))
                    if await self._promote(nodes, best):
                        self._promoted = best
                        log.info("failover: promoted %s", best)
            else:
                lost_since = None
            await asyncio.sleep(poll)

    async def _promote(self, nodes: list[NodeAddress], best: str) -> bool:
        addr = {a.name: a for a in nodes}
        try:
            r = await connect(addr[best], 1.0)
            try:
                await asyncio.wait_for(r.execute_command("REPLICAOF", "NO", "ONE"), 2.0)
            finally:
                await discard(r)
        except Exception as e:  # noqa: BLE001 - not reachable any more: look again
            log.info("promotion of %s failed: %s", best, e)
            return False
        for a in nodes:  # the other replicas follow the new primary (best effort: one may be down)
            if a.name in (best, PRIMARY):
                continue
            try:
                r = await connect(a, 1.0)
                try:
                    await asyncio.wait_for(r.execute_command("REPLICAOF", addr[best].host, addr[best].port), 2.0)
                finally:
                    await discard(r)
            except Exception as e:  # noqa: BLE001
                log.info("re-pointing %s at %s failed: %s", a.name, best, e)
        return True
