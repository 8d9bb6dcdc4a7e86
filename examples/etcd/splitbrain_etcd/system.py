"""etcd as a splitbrain system: how to start a member, and a client for the register and kv workloads.

The client speaks etcd's JSON gateway for its gRPC API (``POST /v3/kv/range``, ``/v3/kv/put``, ``/v3/kv/txn``;
keys and values base64-encoded, as the gateway wants bytes fields), one keep-alive HTTP connection per client,
with ``http.client`` in a worker thread (so an op never blocks the event loop). Workload ops map to:

* ``read``  -> range on the key (linearizable by default; the ``serializable-reads`` variant asks for a
  serializable read, which the member answers from its own state without asking the others);
* ``write`` -> put;
* ``cas [old, new]`` -> a txn: if value(key) == old then put(key, new). ``succeeded`` false is a definite
  ``cas-mismatch`` fail.

Errors go through splitbrain's error table: a refused connection is a definite fail; a timeout, a dropped
connection or an error etcd reports (``etcdserver: request timed out``, ``no leader``, ...) is indefinite for
writes (it may have been committed) and a fail for reads.

Clocks: Debian's etcd is dynamically linked, but Go reads the time through the vDSO, not libc, so libfaketime
does not move etcd's clock: the ``clock`` fault changes nothing for it.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json

from splitbrain.api import (Client, Completion, Invocation, NodeAddress, System, completion_for_error,
                            completion_for_exception)

REGISTER_KEY = "register"


def _b64(s) -> str:
    return base64.b64encode(str(s).encode()).decode()


def _unb64(s: str):
    text = base64.b64decode(s).decode()
    try:
        return int(text)  # the workloads write small integers
    except ValueError:
        return text


class EtcdError(Exception):
    """etcd answered with an error: ``code`` is the gRPC status code, the message is etcd's."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class _Http:
    """A blocking keep-alive HTTP connection to one member; any failure drops it (a late reply must never be read
    as the answer to the next request)."""

    def __init__(self, node: NodeAddress):
        self.node = node
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: dict, timeout: float) -> dict:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.node.host, self.node.port, timeout=timeout)
            self.conn.timeout = timeout
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            self.conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        except BaseException:
            self.close()
            raise
        if resp.status != 200 or "error" in data:
            raise EtcdError(int(data.get("code", 0) or 0), str(data.get("error") or data.get("message")
                                                                 or f"HTTP {resp.status}"))
        return data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class EtcdClient(Client):
    def __init__(self, workload: str, serializable: bool):
        self.workload = workload
        self.serializable = serializable
        self.http: _Http | None = None

    async def open(self, node: NodeAddress) -> None:
        self.http = _Http(node)

    def _key(self, op: Invocation) -> str:
        return REGISTER_KEY if op.key is None or self.workload == "register" else str(op.key)

    def _call(self, http: _Http, op: Invocation, timeout: float) -> Completion:
        key = _b64(self._key(op))
        if op.f == "read":
            body = {"key": key}
            if self.serializable:
                body["serializable"] = True
            reply = http.post("/v3/kv/range", body, timeout)
            kvs = reply.get("kvs") or []
            return Completion("ok", _unb64(kvs[0]["value"]) if kvs and "value" in kvs[0] else None)
        if op.f == "write":
            http.post("/v3/kv/put", {"key": key, "value": _b64(op.value)}, timeout)
            return Completion("ok", op.value)
        if op.f == "cas":
            old, new = op.value
            reply = http.post("/v3/kv/txn", {
                "compare": [{"key": key, "target": "VALUE", "result": "EQUAL", "value": _b64(old)}],
                "success": [{"request_put": {"key": key, "value": _b64(new)}}],
            }, timeout)
            if reply.get("succeeded"):  # proto3 JSON leaves false out
                return Completion("ok", op.value)
            return completion_for_error("cas-mismatch", op.f)
        return completion_for_error("unsupported", op.f, f"etcd's client has no {op.f!r}")

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        http = self.http
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._call, http, op, timeout), timeout + 0.5)
        except (asyncio.TimeoutError, asyncio.CancelledError) as e:
            # The thread may still be waiting on its socket (it gives up by itself: same timeout); the next op
            # must not share that connection, so it gets a fresh one.
            self.http = _Http(http.node)
            if isinstance(e, asyncio.CancelledError):
                raise
            return completion_for_exception(e, op.f, sent=True)
        except EtcdError as e:
            code = "timeout" if "timed out" in str(e) else "etcd-error"  # not in the table: indefinite
            return completion_for_error(code, op.f, str(e))
        except Exception as e:
            # http.client connects lazily inside request(); a refused connect sent nothing
            return completion_for_exception(e, op.f, sent=not isinstance(e, ConnectionRefusedError))

    async def close(self) -> None:
        if self.http is not None:
            await asyncio.to_thread(self.http.close)


class Etcd(System):
    name = "etcd"
    description = "etcd (Debian's etcd-server): Raft-replicated KV store, 3.4 JSON gateway on the client port"
    variants = {
        "correct": "",
        "serializable-reads": "reads are serializable (answered by one member from its local state): a member cut "
                              "off from the leader serves stale values (not linearizable, by etcd's own docs)",
    }
    workloads = ("register", "kv")
    base_port = 2379  # clients; peers on 2380
    # Go reads the clock through the vDSO, so libfaketime can't move etcd's clock: say so, and clock faults are
    # refused before a run starts instead of passing as a test that tested nothing.
    faketime = False

    def node_command(self, python: str, config_path: str) -> list[str]:
        from pathlib import Path
        return [python, str(Path(__file__).with_name("launch.py")), "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        """Raft timing can be set per test: ``--option heartbeat_ms=100 --option election_ms=1000``."""
        return {k: options[k] for k in ("heartbeat_ms", "election_ms", "etcd_binary") if k in options}

    def client(self, variant: str, options: dict) -> EtcdClient:
        return EtcdClient(options.get("workload", "register"), serializable=variant == "serializable-reads")

    async def leader(self, nodes: list[NodeAddress], timeout: float) -> tuple[str | None, int | None]:
        """Ask every member for its status; the leader is the member whose id the highest term names."""
        async def status(a: NodeAddress):
            conn = _Http(a)
            try:
                return a.name, await asyncio.to_thread(conn.post, "/v3/maintenance/status", {}, timeout)
            except Exception:
                return a.name, None
            finally:
                conn.close()

        replies = [r for r in await asyncio.gather(*(status(a) for a in nodes)) if r[1] is not None]
        ids = {str(s.get("header", {}).get("member_id")): name for name, s in replies}
        best = max(replies, key=lambda r: int(r[1].get("raftTerm", 0) or 0), default=None)
        if best is None:
            return None, None
        return ids.get(str(best[1].get("leader"))), int(best[1].get("raftTerm", 0) or 0)
