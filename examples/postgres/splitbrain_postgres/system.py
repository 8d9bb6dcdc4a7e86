"""PostgreSQL streaming replication as a splitbrain system: one primary (``n1``) and standbys that copy it.

What splitbrain needs to know, and where it is here:

* how a node starts: ``launch.py`` (initdb or pg_basebackup on the first start, then ``postgres`` as the postgres
  user);
* who the primary is: :meth:`Postgres.leader` / :meth:`Postgres.primaries` ask every node
  ``pg_is_in_recovery()``; clients send writes (and, but for ``standby-reads``, reads) to the node the system
  currently calls primary (:meth:`Postgres.primary_for`), found through the cluster view;
* when load may start: :meth:`Postgres.ready`: the primary answers, the table exists, and every standby streams
  from it (in synchronous variants: one is a synchronous standby);
* ``async-failover`` only: a naive failover manager (started by ``ready``) that promotes the most advanced standby
  once no standby has streamed from the primary for ``failover_after`` seconds, and from then on calls it the
  primary. That is the seeded bug: with asynchronous replication the old primary's acknowledged commits that had
  not reached the standby are gone, and a primary cut off from its standbys (but not from clients) keeps
  acknowledging writes the new primary never sees.

Variants: ``correct`` (reads and writes on the primary, synchronous commit to one standby), ``standby-reads`` (the
same, but reads are answered by the node the client is bound to, often a standby: stale), ``async-failover``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from splitbrain.api import NodeAddress, System

from splitbrain_postgres.client import PgClient, connect, query

log = logging.getLogger(__name__)

PRIMARY = "n1"
TABLES = ("CREATE TABLE IF NOT EXISTS registers (k text PRIMARY KEY, v bigint)",
          "CREATE TABLE IF NOT EXISTS elements (k text, e bigint)")


class Postgres(System):
    name = "postgres"
    description = ("PostgreSQL (Debian's postgresql) streaming replication: one primary, standbys; clients find "
                   "the primary")
    variants = {
        "correct": "",
        "standby-reads": "reads are answered by the client's own node, often a standby that has not replayed the "
                         "latest commits (stale reads)",
        "async-failover": "asynchronous replication, and a standby is promoted when the standbys lose the primary: "
                          "acknowledged writes that had not reached it are lost",
    }
    workloads = ("register", "kv", "set")
    base_port = 5432
    start_timeout = 90.0   # initdb and pg_basebackup on the first start
    # PostgreSQL logs FATAL for ordinary ends of a session (a killed postmaster, a refused standby connection):
    # here a node's log is alarming only at PANIC (the server gave up), or when our launcher raised.
    log_patterns = (r"\bPANIC:", r"Traceback \(most recent call last\)", r"\bAssertionError\b")
    ready_timeout = 60.0
    failover_after = 1.0   # seconds without any standby streaming before async-failover promotes one

    def __init__(self) -> None:
        self.variant = "correct"
        self._primary: str | None = None   # the node clients send writes to, once known
        self._promoted: str | None = None
        self._monitor: asyncio.Task | None = None
        self._table_ready = False

    # ------------------------------------------------------------------------------------------ starting nodes

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, str(Path(__file__).with_name("launch.py")), "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        self.variant = variant
        return {"primary": PRIMARY, **{k: options[k] for k in ("pg_bin",) if k in options}}

    def workload_options(self, workload: str) -> dict:
        return {}

    def client(self, variant: str, options: dict) -> PgClient:
        self.variant = variant
        return PgClient(self, options.get("workload", "register"), local_reads=variant == "standby-reads")

    # ------------------------------------------------------------------------------------------ roles

    async def _status(self, a: NodeAddress, timeout: float) -> dict | None:
        """One node's view: in recovery?, streaming from a primary?, how much WAL it has; None if unreachable."""
        try:
            conn = await connect(a, timeout)
        except Exception:
            return None
        try:
            rows = await query(conn, "SELECT pg_is_in_recovery(), "
                                     "(SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'), "
                                     "(SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'), "
                                     "(SELECT count(*) FROM pg_stat_replication WHERE sync_state IN "
                                     "('sync', 'quorum')), "
                                     "COALESCE(pg_last_wal_receive_lsn(), '0/0') - '0/0'::pg_lsn", (), timeout)
            rec, receiving, senders, sync, lsn = rows[0]
            return {"standby": rec, "receiving": receiving, "senders": senders, "sync": sync, "lsn": int(lsn)}
        except Exception:
            return None
        finally:
            try:
                await asyncio.wait_for(conn.close(), 1.0)
            except Exception:  # noqa: BLE001 - a broken connection is being thrown away
                pass

    async def statuses(self, nodes: list[NodeAddress], timeout: float) -> dict[str, dict]:
        got = await asyncio.gather(*(self._status(a, timeout) for a in nodes))
        return {a.name: s for a, s in zip(nodes, got) if s is not None}

    async def primaries(self, nodes: list[NodeAddress], timeout: float) -> list[str]:
        """Every node that is not in recovery (two after a failover whose old primary came back)."""
        return sorted(n for n, s in (await self.statuses(nodes, timeout)).items() if not s["standby"])

    async def leader(self, nodes: list[NodeAddress], timeout: float) -> tuple[str | None, int | None]:
        """The node clients write to (the promoted one after a failover), if it answers as a primary; the "term"
        is 1, or 2 after a failover. (PostgreSQL's timeline would do, but needs a checkpoint to show.)"""
        prim = await self.primaries(nodes, timeout)
        chosen = self._promoted or PRIMARY
        return (chosen, 2 if self._promoted else 1) if chosen in prim else (None, None)

    async def primary_for(self, view, timeout: float) -> NodeAddress:
        """The node a client sends writes to: the configured primary, or the promoted standby after a failover.
        The address comes from the client's cluster view (namespaces and SSH alike)."""
        return view.address(self._promoted or PRIMARY)

    # ------------------------------------------------------------------------------------------ readiness

    async def ready(self, nodes: list[NodeAddress], timeout: float):
        """The primary answers, the table exists, every standby streams from it (a synchronous one where the
        variant wants it). Starts the failover manager of ``async-failover``."""
        st = await self.statuses(nodes, timeout)
        prim = st.get(PRIMARY)
        if prim is None or prim["standby"]:
            return f"{PRIMARY} does not answer as the primary yet"
        if not self._table_ready:
            conn = await connect(next(a for a in nodes if a.name == PRIMARY), timeout)
            try:
                for ddl in TABLES:
                    await query(conn, ddl, (), timeout, fetch=False)
            finally:
                await conn.close()
            self._table_ready = True
        if prim["senders"] < len(nodes) - 1:
            return f"{prim['senders']} of {len(nodes) - 1} standbys stream from {PRIMARY}"
        if self.variant != "async-failover" and len(nodes) > 1 and prim["sync"] < 1:
            return "no synchronous standby yet"
        if self.variant == "async-failover" and self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(self._failover_manager(nodes))
        return True

    async def _failover_manager(self, nodes: list[NodeAddress], poll: float = 0.25) -> None:
        """Promote the most advanced standby once no standby has streamed for ``failover_after`` s; once."""
        lost_since = None
        while self._promoted is None:
            st = await self.statuses(nodes, 0.5)
            standbys = {n: s for n, s in st.items() if s["standby"]}
            if standbys and not any(s["receiving"] for s in standbys.values()):
                lost_since = lost_since or time.monotonic()
                if time.monotonic() - lost_since >= self.failover_after:
                    best = max(standbys, key=lambda n: (standbys[n]["lsn"], n))
                    try:
                        conn = await connect(next(a for a in nodes if a.name == best), 1.0)
                        try:
                            await query(conn, "SELECT pg_promote(true, 5)", (), 6.0)
                        finally:
                            await conn.close()
                        self._promoted = best
                        log.info("async-failover: promoted %s", best)
                    except Exception as e:  # not reachable any more: look again
                        log.info("promotion of %s failed: %s", best, e)
            else:
                lost_since = None
            await asyncio.sleep(poll)
