"""The Redis client: workload ops as Redis commands, sent to the node the system names primary.

* ``read``  -> ``GET`` (an integer, or None for a missing key);
* ``write`` -> ``SET``;
* ``cas [old, new]`` -> a Lua script (``EVAL``), which Redis runs atomically: no change is a definite
  ``cas-mismatch``;
* ``set`` workload: ``add`` -> ``SADD``, ``read`` -> ``SMEMBERS`` (sorted integers).

With ``wait`` (the ``wait`` and ``replica-reads`` variants) every write is followed by ``WAIT <replicas> <ms>``:
it is acknowledged only once that many replicas have it; fewer in time is ``info`` (``not-replicated``: the primary
applied it, it may or may not survive). Reads go to the primary, or with ``local_reads`` to the node the client is
bound to (a replica, for two clients in three).

redis-py retries a command after a connection error or timeout by default (``retry``): a retried ``SET`` or cas may
take effect twice, or after the client reported it failed. Here retries are off (``Retry(NoBackoff(), 0)``), and
each connection is made explicitly first, so errors split cleanly: a connection that could not be made sent
nothing (``fail``); an error after the command was sent may have taken effect (``info``; reads ``fail``). A
connection that timed out is thrown away, so a late reply is never read as the next answer.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from splitbrain.api import Client, Completion, Invocation, NodeAddress, completion_for_error

CAS = """local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0"""


async def connect(a: NodeAddress, timeout: float) -> aredis.Redis:
    """A connected single-connection client for ``a``, retries off; raises if the connection can't be made."""
    r = aredis.Redis(host=a.host, port=a.port, socket_timeout=timeout, socket_connect_timeout=timeout,
                     retry=Retry(NoBackoff(), 0), retry_on_timeout=False, single_connection_client=True,
                     decode_responses=True)
    try:
        await r.initialize()
        await asyncio.wait_for(r.connection.connect(), timeout)
    except BaseException:
        await discard(r)
        raise
    return r


async def discard(r: aredis.Redis) -> None:
    try:
        await asyncio.wait_for(r.aclose(), 1.0)
    except Exception:  # noqa: BLE001 - it is being thrown away
        pass


async def info_replication(a: NodeAddress, timeout: float) -> dict | None:
    """``INFO replication`` of one node as a dict, or None if it does not answer in time."""
    try:
        r = await connect(a, timeout)
    except Exception:  # noqa: BLE001 - unreachable
        return None
    try:
        return await asyncio.wait_for(r.info("replication"), timeout)
    except Exception:  # noqa: BLE001
        return None
    finally:
        await discard(r)


class RedisClient(Client):
    def __init__(self, system, workload: str, *, local_reads: bool, wait_replicas: int):
        self.system = system
        self.workload = workload
        self.local_reads = local_reads
        self.wait_replicas = wait_replicas   # 0: no WAIT (asynchronous replication)
        self.bound: NodeAddress | None = None
        self.conns: dict[str, aredis.Redis] = {}

    async def open(self, node: NodeAddress) -> None:
        self.bound = node

    def _key(self, op: Invocation) -> str:
        return f"splitbrain:{'r' if op.key is None else op.key}"

    async def _replicated(self, r: aredis.Redis, op: Invocation, timeout: float) -> Completion:
        """``ok`` once ``wait_replicas`` replicas have the write, else ``info`` (the primary has it)."""
        if self.wait_replicas:
            got = await r.execute_command("WAIT", self.wait_replicas, max(1, int(timeout * 1000 * 0.8)))
            if got < self.wait_replicas:
                return completion_for_error("not-replicated", op.f,
                                            f"WAIT: {got} of {self.wait_replicas} replicas acknowledged")
        return Completion("ok", op.value)

    async def _command(self, r: aredis.Redis, op: Invocation, timeout: float) -> Completion:
        key = self._key(op)
        if self.workload == "set":
            if op.f == "add":
                await r.sadd(key, op.value)
                return await self._replicated(r, op, timeout)
            if op.f == "read":
                return Completion("ok", sorted(int(x) for x in await r.smembers(key)))
        if op.f == "read":
            v = await r.get(key)
            return Completion("ok", None if v is None else int(v))
        if op.f == "write":
            await r.set(key, op.value)
            return await self._replicated(r, op, timeout)
        if op.f == "cas":
            old, new = op.value
            if not await r.eval(CAS, 1, key, str(old), str(new)):
                return completion_for_error("cas-mismatch", op.f)
            return await self._replicated(r, op, timeout)
        return completion_for_error("unsupported", op.f, f"the redis client has no {op.f!r}")

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        reads_here = self.local_reads and op.f == "read"
        target = self.bound if reads_here else self.system.primary_for(self.cluster)
        r = self.conns.get(target.name)
        if r is None:
            try:
                r = self.conns[target.name] = await connect(target, timeout)
            except (RedisError, OSError, asyncio.TimeoutError) as e:  # nothing was sent
                done = completion_for_error("connection-refused", op.f, f"{type(e).__name__}: {e}")
                return Completion(done.type, None, done.error, node=target.name)
        try:
            done = await asyncio.wait_for(self._command(r, op, timeout), timeout)
        except ReadOnlyError as e:  # a replica: refused before doing anything
            done = completion_for_error("read-only", op.f, str(e))
        except ResponseError as e:  # the server answered with an error: keep the connection
            done = completion_for_error("redis-error", op.f, str(e))
        except (RedisError, OSError, asyncio.TimeoutError) as e:  # sent, no answer: may have happened
            self.conns.pop(target.name, None)
            asyncio.get_running_loop().create_task(discard(r))
            code = "timeout" if isinstance(e, (asyncio.TimeoutError, TimeoutError, RedisTimeout)) else "connection-lost"
            done = completion_for_error(code, op.f, str(e) or type(e).__name__)
        return Completion(done.type, done.value, done.error, node=target.name)

    async def close(self) -> None:
        conns, self.conns = self.conns, {}
        for r in conns.values():
            await discard(r)
