"""The PostgreSQL client: workload ops as SQL on one table, sent to the primary the system names.

``register``/``kv`` ops map to ``registers (k text PRIMARY KEY, v bigint)``:

* ``read``  -> ``SELECT v``;
* ``write`` -> ``INSERT ... ON CONFLICT (k) DO UPDATE``;
* ``cas [old, new]`` -> ``UPDATE ... WHERE k = %s AND v = %s``: no row changed is a definite ``cas-mismatch``.

``set`` ops map to ``elements (k text, e bigint)``: ``add`` inserts a row, ``read`` returns every element of the key
(sorted). A write that was acknowledged and is missing from the final read is a lost write.

Each statement runs in autocommit mode, one connection per node the client talks to (psycopg 3, async). psycopg
does not retry on its own (a driver that does would resend a cas: turn that off in yours). Its exceptions are no
OSError, so they are classified here, into splitbrain's error table:

* the connection could not be made (refused, timed out, the node paused): nothing was sent: ``fail``;
* ``ReadOnlySqlTransaction`` (a standby): PostgreSQL refused before doing anything: ``fail`` (``read-only``);
* a timeout or a lost connection after the statement was sent: ``info`` (it may have committed: a commit waiting
  for its synchronous standby is already committed locally);
* any other server error: ``info`` (``pg-error``), reads ``fail``.

Completions name the node that answered (``Completion.node``), so the history shows which primary served a write.
"""

from __future__ import annotations

import asyncio
import os
import socket

import psycopg
from psycopg import errors as pgerrors

from splitbrain.api import Client, Completion, Invocation, NodeAddress, completion_for_error

REGISTER_KEY = "r"


async def connect(a: NodeAddress, timeout: float) -> psycopg.AsyncConnection:
    """A new autocommit connection to ``a`` within ``timeout`` seconds (libpq's own minimum is 2 s, so the
    bound is ours)."""
    return await asyncio.wait_for(psycopg.AsyncConnection.connect(
        host=a.host, port=a.port, user="postgres", dbname="postgres", autocommit=True,
        connect_timeout=max(2, int(timeout + 1)), application_name="splitbrain"), timeout)


async def query(conn, sql: str, params, timeout: float, fetch: bool = True):
    """Run one statement, answering within ``timeout`` seconds. On a timeout the connection is cut from our side
    (its socket shut down) rather than cancelled: psycopg answers a cancelled query with a cancel request that,
    on libpq before 17, blocks a thread of the event loop's default executor until the server replies, and a
    paused server never does. The statement then fails on the dead socket and TimeoutError is raised."""
    async def go():
        cur = await conn.execute(sql, params)
        if fetch:
            return await cur.fetchall()
        return cur.rowcount
    task = asyncio.ensure_future(go())
    # Never cancelled (that would send the cancel request): a cut statement ends on its own, unread.
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        _cut(conn)
        raise
    if done:
        return task.result()
    _cut(conn)
    raise asyncio.TimeoutError(f"no answer within {timeout:g} s")


def _cut(conn) -> None:
    """Shut the connection's socket down (both ways): what waits on it sees the end at once, and no cancel
    request is sent."""
    try:
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as s:
            s.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):  # already closed
        pass


def _discard(conn) -> None:
    """Close a connection that may be mid-statement, without waiting for it (a late answer is never read)."""
    async def close():
        try:
            await asyncio.wait_for(conn.close(), 2.0)
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass
    asyncio.get_running_loop().create_task(close())


class PgClient(Client):
    def __init__(self, system, workload: str, local_reads: bool):
        self.system = system
        self.workload = workload
        self.local_reads = local_reads
        self.bound: NodeAddress | None = None
        self.conns: dict[str, psycopg.AsyncConnection] = {}

    async def open(self, node: NodeAddress) -> None:
        self.bound = node

    def _key(self, op: Invocation) -> str:
        return REGISTER_KEY if op.key is None or self.workload == "register" else str(op.key)

    async def _statement(self, conn, op: Invocation, timeout: float) -> Completion:
        key = self._key(op)
        if self.workload == "set":
            if op.f == "add":
                await query(conn, "INSERT INTO elements (k, e) VALUES (%s, %s)", (key, op.value), timeout,
                            fetch=False)
                return Completion("ok", op.value)
            if op.f == "read":
                rows = await query(conn, "SELECT e FROM elements WHERE k = %s ORDER BY e", (key,), timeout)
                return Completion("ok", [r[0] for r in rows])
        if op.f == "read":
            rows = await query(conn, "SELECT v FROM registers WHERE k = %s", (key,), timeout)
            return Completion("ok", rows[0][0] if rows else None)
        if op.f == "write":
            await query(conn, "INSERT INTO registers (k, v) VALUES (%s, %s) "
                              "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", (key, op.value), timeout, fetch=False)
            return Completion("ok", op.value)
        if op.f == "cas":
            old, new = op.value
            n = await query(conn, "UPDATE registers SET v = %s WHERE k = %s AND v = %s", (new, key, old), timeout,
                            fetch=False)
            return Completion("ok", op.value) if n == 1 else completion_for_error("cas-mismatch", op.f)
        return completion_for_error("unsupported", op.f, f"the postgres client has no {op.f!r}")

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        if op.f == "read" and self.local_reads:
            target = self.bound
        else:
            target = await self.system.primary_for(self.cluster, timeout)
        conn = self.conns.get(target.name)
        if conn is None or conn.closed:
            try:
                conn = self.conns[target.name] = await connect(target, timeout)
            except (psycopg.OperationalError, OSError, asyncio.TimeoutError) as e:
                done = completion_for_error("connection-refused", op.f, f"{type(e).__name__}: {e}")
                return Completion(done.type, None, done.error, node=target.name)
        try:
            done = await self._statement(conn, op, timeout)
        except pgerrors.ReadOnlySqlTransaction as e:
            done = completion_for_error("read-only", op.f, str(e).strip())
        except (asyncio.TimeoutError, psycopg.OperationalError, OSError) as e:
            # Sent, and no answer: it may have committed. The connection is dropped.
            self.conns.pop(target.name, None)
            _discard(conn)
            code = "timeout" if isinstance(e, asyncio.TimeoutError) else "connection-lost"
            done = completion_for_error(code, op.f, str(e).strip() or type(e).__name__)
        except psycopg.Error as e:
            self.conns.pop(target.name, None)
            _discard(conn)
            done = completion_for_error("pg-error", op.f, f"{type(e).__name__}: {str(e).strip()}")
        return Completion(done.type, done.value, done.error, node=target.name)

    async def close(self) -> None:
        conns, self.conns = self.conns, {}
        for c in conns.values():
            try:
                await asyncio.wait_for(c.close(), 2.0)
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
