"""The harness side of raft-kv (systems_under_test/raft_kv): how to start a node, its variants, and its client.

The client maps workload ops to wire requests (register: read/write/cas on one fixed key; kv: the same per key;
set: add -> set-add, read -> set-read; counter: add -> counter-add, read -> counter-read) and *retries*: a write
carries this client's id and a sequence number, and when an attempt times out or its connection breaks, it is sent
again with the same id and number (to the next node, when the client knows the cluster) until the op's deadline.
The server applies a (client, seq) once, so retrying is safe in ``correct`` and visibly unsafe in ``no-dedup``.

Completion rules: an answer from the state machine (ok, cas-mismatch) is final. A definite routing error
(not-leader, no-leader, unavailable) is retried after a short pause; if the deadline comes first it is ``fail``
only when no earlier attempt of the op may have reached a leader, else ``info``: an earlier attempt may still
commit. Must not: reuse a sequence number for a different op, or report ``fail`` for a write that may have applied.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from splitbrain.harness.api import Client, Completion, Invocation, NodeAddress, System
from splitbrain.harness.client_errors import completion_for_error, completion_for_exception
from splitbrain.harness.jsonline_client import JsonLineConnection

REGISTER_KEY = "r"
#: (workload, f) -> wire request type
OPS: dict[tuple[str, str], str] = {
    ("register", "read"): "read", ("register", "write"): "write", ("register", "cas"): "cas",
    ("kv", "read"): "read", ("kv", "write"): "write", ("kv", "cas"): "cas",
    ("set", "add"): "set-add", ("set", "read"): "set-read",
    ("counter", "add"): "counter-add", ("counter", "read"): "counter-read",
}
DEFAULT_KEYS = {"register": REGISTER_KEY, "set": "s", "counter": "c", "kv": "k"}
WRITE_TYPES = frozenset({"write", "cas", "set-add", "counter-add"})
RETRY_CODES = frozenset({"not-leader", "no-leader", "unavailable"})
#: endpoint -> the cluster's nodes as that node reported them (so a re-opened client needs no status call)
_KNOWN_PEERS: dict[str, list[NodeAddress]] = {}


def _address(n) -> NodeAddress:
    if isinstance(n, NodeAddress):
        return n
    if isinstance(n, dict):
        return NodeAddress(n["name"], n["host"], int(n["port"]))
    name, host, port = n
    return NodeAddress(name, host, int(port))


class RaftKVClient(Client):
    """One client worker's connection(s). ``nodes`` (optional) lets a retry go to another node."""

    def __init__(self, workload: str, nodes: list | None = None, attempt_timeout: float | None = None):
        if workload not in DEFAULT_KEYS:
            raise ValueError(f"raft-kv has no workload {workload!r}")
        self.workload = workload
        self.nodes = [_address(n) for n in (nodes or [])]
        self.attempt_timeout = attempt_timeout
        self.client_id = uuid.uuid4().hex[:16]
        self.seq = 0
        self.order: list[NodeAddress] = []
        self.conns: dict[str, JsonLineConnection] = {}

    async def open(self, node: NodeAddress) -> None:
        """Bind to ``node``; without a node list, learn the others from its status (best effort, so that a retry
        can go elsewhere when this node is down or cut off)."""
        if not self.nodes:
            self.nodes = _KNOWN_PEERS.get(node.endpoint) or []
        if not self.nodes:
            status = await node_status(node, 0.5)
            try:
                self.nodes = [NodeAddress(name, host, int(port))
                              for name, (host, port) in sorted(((status or {}).get("nodes") or {}).items())]
            except (TypeError, ValueError):
                self.nodes = []
            if self.nodes:
                _KNOWN_PEERS[node.endpoint] = self.nodes  # new clients (after an info) skip the round trip
        self.order = [node] + [n for n in self.nodes if n.name != node.name]

    def to_request(self, op: Invocation) -> dict:
        typ = OPS.get((self.workload, op.f))
        if typ is None:
            raise ValueError(f"raft-kv {self.workload} client has no op {op.f!r}")
        key = REGISTER_KEY if self.workload == "register" else op.key
        if key is None:
            key = DEFAULT_KEYS[self.workload]
        req = {"type": typ, "key": key}
        if typ in WRITE_TYPES:
            req["value"] = op.value
            self.seq += 1  # one number per op, kept across its retries
            req["client"], req["seq"] = self.client_id, self.seq
        return req

    def _conn(self, node: NodeAddress) -> JsonLineConnection:
        conn = self.conns.get(node.name)
        if conn is None:
            conn = self.conns[node.name] = JsonLineConnection(node, connect_timeout=1.0)
        return conn

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        try:
            req = self.to_request(op)
        except ValueError as e:
            return completion_for_error("unsupported", op.f, str(e))
        is_write = req["type"] in WRITE_TYPES
        deadline = time.monotonic() + timeout - 0.02  # leave the runner its own margin
        per_attempt = self.attempt_timeout or max(0.25, timeout / 3)
        uncertain = False   # an earlier attempt may have reached a leader
        last: Completion | None = None
        target = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0.01:
                break
            attempt = min(remaining, per_attempt)
            conn = self._conn(self.order[target % len(self.order)])
            sent = False
            try:
                if conn._writer is None:
                    await conn.connect()
                sent = True
                reply = await conn.request({**req, "timeout": max(attempt - 0.05, 0.01)}, attempt)
            except Exception as e:  # transport trouble: classify, then retry (same seq) elsewhere
                last = completion_for_exception(e, op.f, sent=sent)
                uncertain = uncertain or (is_write and last.type == "info")
                target += 1
                if not sent:
                    await asyncio.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
                continue
            if reply.get("ok"):
                return Completion("ok", reply.get("value") if not is_write else op.value)
            code = str(reply.get("error", "crashed"))
            last = completion_for_error(code, op.f, reply.get("detail"))
            if code in RETRY_CODES:
                await asyncio.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
                continue
            if code == "timeout":
                uncertain = uncertain or is_write
                target += 1
                continue
            return last  # the state machine's own answer (cas-mismatch, bad-request): final
        if last is None:
            return completion_for_error("timeout", op.f, "no attempt fit in the deadline")
        if uncertain and last.type == "fail":
            return Completion("info", None, f"{last.error} (an earlier attempt may have applied)")
        return last

    async def close(self) -> None:
        for conn in self.conns.values():
            await conn.close()
        self.conns = {}


async def node_status(node: NodeAddress, timeout: float) -> dict | None:
    """A node's ``status`` reply, or None if it does not answer in time."""
    conn = JsonLineConnection(node, connect_timeout=timeout)
    try:
        reply = await asyncio.wait_for(conn.request({"type": "status"}, timeout), timeout)
        return reply if reply.get("ok") else None
    except Exception:
        return None
    finally:
        await conn.close()


class RaftKV(System):
    name = "raft-kv"
    description = "a key-value store replicated with Raft (SQLite log, snapshots, ReadIndex reads, client dedup)"
    variants = {
        "correct": "",
        "stale-read": "the leader answers reads from its own state without confirming it still leads",
        "commit-old-term": "entries of earlier terms are committed by counting replicas (Raft paper, Figure 8)",
        "volatile-vote": "term and vote are not persisted: a restarted node can vote twice in one term "
                         "(found with --nemesis voter-restart and --option 'raft_kv={\"pre_vote\": false}')",
        "no-dedup": "a retried write (same client id and sequence number) is applied again",
        "no-fsync": "the log is not fsynced before entries are acknowledged: a power loss of a majority loses "
                    "committed writes (found with --nemesis lose-unfsynced)",
        "no-checksum": "log entries carry no checksum (and SQLite's rollback journal replaces its checksummed "
                       "WAL): a flipped bit in an entry is served as data (found with --nemesis corrupt)",
    }
    workloads = ("register", "kv", "set", "counter")
    base_port = 7000
    package = "splitbrain.systems_under_test.raft_kv"
    data_files = ("raft.sqlite3", "raft.sqlite3-wal")

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.raft_kv.server", "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        """Tuning passes through from ``options["raft_kv"]`` (election_timeout, heartbeat_interval,
        snapshot_threshold, request_timeout, check_quorum, max_batch, pre_vote)."""
        return dict(options.get("raft_kv") or {})

    def client(self, variant: str, options: dict) -> Client:
        return RaftKVClient(options.get("workload", "register"), options.get("nodes"),
                            options.get("attempt_timeout"))

    def workload_options(self, workload: str) -> dict:
        # Raft's bugs live around the leader: aim faults at it (and at minorities/majorities around it). The
        # package draws a shape uniformly from this list, so isolate-leader is listed twice: half the partitions
        # cut the leader off (measured with bench/bench_seeds.py: a stale-read leader is caught only when cut off).
        opts = {"partition_shapes": ["isolate-leader", "isolate-leader", "majorities-ring", "random-halves"],
                "kill_targets": ["leader", "one", "minority"], "pause_targets": ["leader", "one", "minority"]}
        if workload == "set":
            # A set read goes through ReadIndex like any read, so the set is linearizable: an element a read
            # returned (or whose add was acknowledged) must be in every later read.
            opts["linearizable_set"] = True
        return opts

    async def roles(self, nodes: list[NodeAddress], timeout: float) -> dict[str, dict]:
        """Each answering node's own view: {"role", "term"} (the ReportsRoles capability)."""
        replies = await asyncio.gather(*(node_status(n, timeout) for n in nodes))
        return {n.name: {"role": r.get("role"), "term": r.get("term")} for n, r in zip(nodes, replies) if r}

    async def leader(self, nodes: list[NodeAddress], timeout: float) -> tuple[str | None, int | None]:
        """The leader and term a majority of the cluster reports; (None, highest term seen) without one."""
        replies = [r for r in await asyncio.gather(*(node_status(n, timeout) for n in nodes)) if r]
        if not replies:
            return None, None
        views: dict[tuple, int] = {}
        for r in replies:
            if r.get("leader") is not None:
                key = (r["leader"], r.get("term"))
                views[key] = views.get(key, 0) + 1
        for (lead, term), count in views.items():
            if count >= len(nodes) // 2 + 1:
                return lead, term
        return None, max(r.get("term", 0) for r in replies)
