"""The harness-side adapter of the leaderless quorum KV store (systems_under_test/quorum_kv).

The client maps workload ops to the store's wire types: register and kv ``read``/``write`` -> ``read``/``write``
(register on one fixed key), set ``add``/``read`` -> ``set-add``/``set-read``, counter ``add``/``read`` ->
``counter-add``/``counter-read``. ``cas`` is never sent: the store cannot do it atomically, so the client answers
``unsupported`` (a definite fail) instead of pretending. Which mapping applies is fixed by ``options["workload"]``.
"""

from __future__ import annotations

from splitbrain.harness.api import Completion, Invocation, System
from splitbrain.harness.client_errors import completion_for_error
from splitbrain.harness.jsonline_client import JsonLineClient
from splitbrain.history.errors import BadInput

#: The single key the register workload uses, and the default key of the set and counter workloads.
REGISTER_KEY = "register"
SET_KEY = "set"
COUNTER_KEY = "counter"

# workload -> f -> wire type
_OPS: dict[str, dict[str, str]] = {
    "register": {"read": "read", "write": "write"},
    "kv": {"read": "read", "write": "write"},
    "set": {"add": "set-add", "read": "set-read"},
    "counter": {"add": "counter-add", "read": "counter-read"},
}
_DEFAULT_KEY = {"register": REGISTER_KEY, "set": SET_KEY, "counter": COUNTER_KEY}


class QuorumKVClient(JsonLineClient):
    """A JsonLineClient that speaks one workload's ops to the quorum store. Unknown ops fail definitely
    (``unsupported``) without touching the network."""

    def __init__(self, workload: str):
        super().__init__()
        if workload not in _OPS:
            raise BadInput(f"quorum-kv has no client for workload {workload!r} (known: {', '.join(_OPS)})",
                           "--workload")
        self.workload = workload
        self._ops = _OPS[workload]

    def to_request(self, op: Invocation) -> dict:
        req = {"type": self._ops[op.f]}
        if self.workload == "kv":
            req["key"] = op.key
        else:  # single-object workloads: the key is fixed (an explicit one is honoured)
            req["key"] = _DEFAULT_KEY[self.workload] if op.key is None else op.key
        if op.f != "read":
            req["value"] = op.value
        return req

    def from_reply(self, op: Invocation, reply: dict) -> Completion:
        if reply.get("ok"):
            # reads carry their result; updates echo their argument, as the history format wants
            return Completion("ok", reply.get("value") if op.f == "read" else op.value)
        return completion_for_error(str(reply.get("error", "crashed")), op.f, reply.get("detail"))

    async def invoke(self, op: Invocation, timeout: float) -> Completion:
        if op.f not in self._ops:
            return completion_for_error("unsupported", op.f, f"quorum-kv does not offer {op.f!r} "
                                        f"in the {self.workload} workload (leaderless cas is not atomic)")
        return await super().invoke(op, timeout)


class QuorumKV(System):
    name = "quorum-kv"
    description = ("Leaderless quorum replication (Dynamo-style, every node coordinates): multi-writer ABD "
                   "registers with read write-back, grow-only sets and PN-counters as CRDTs, fsynced WAL.")
    variants = {
        "correct": "",
        "no-read-repair": "reads skip the write-back: a read may see a half-written value and a later read the "
                          "old one (not linearizable)",
        "r1w1": "R = W = 1: quorums don't intersect, a replica that missed a write serves stale reads",
        "lww-wallclock": "versions are coordinators' wall-clock times with no read phase: writes are lost under "
                         "clock skew",
        "no-fsync": "a replica says \"stored\" once the write is in the OS, before fsync: a power loss of a "
                    "majority loses acknowledged writes (found with --nemesis lose-unfsynced)",
        "retry-as-new": "a counter add whose quorum store timed out is retried as a new add: on slow links both "
                        "land and the delta counts twice (found with --nemesis delay on the counter workload)",
    }
    workloads = ("register", "kv", "set", "counter")
    base_port = 7000
    package = "splitbrain.systems_under_test.quorum_kv"
    data_files = ("wal.jsonl", "snapshot.json")

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.quorum_kv.server", "--config", config_path]

    def workload_options(self, workload: str) -> dict:
        """Defaults per workload. The register workload would otherwise spend a third of its ops on cas, which
        this store refuses. Sets are judged as linearizable sets (an element a read returned must be in every
        later read): with the read's write-back that is what the store promises, and it is exactly what
        ``no-read-repair`` breaks. The ``crash`` fault hangs then kills a majority: a hung replica drops what was
        sent to it, so adds coordinated meanwhile by a live node stay on that node alone (a partial write), which
        a minority crash can't do (W replicas still get them)."""
        if workload == "register":
            return {"cas": False}
        if workload == "set":
            return {"linearizable_set": True, "crash_targets": ["majority"]}
        return {}

    def node_config_extra(self, variant: str, options: dict) -> dict:
        """Quorum sizes ``options["r"]``/``["w"]`` pass through when given (the server defaults them to
        majorities; r1w1 fixes R = W = 1). The coordinator's quorum timeout is ``["coordinator_timeout"]`` or
        else three quarters of the client's ``["op_timeout"]``: the node must answer before the client gives up,
        or a definite refusal (``unavailable``) would be recorded as an unknown outcome."""
        if variant not in self.variants:
            raise BadInput(f"quorum-kv has no variant {variant!r} (known: {', '.join(self.variants)})", "--variant")
        extra = {k: options[k] for k in ("r", "w") if options.get(k) is not None}
        if options.get("coordinator_timeout") is not None:
            extra["timeout"] = options["coordinator_timeout"]
        elif options.get("op_timeout"):
            extra["timeout"] = round(0.75 * float(options["op_timeout"]), 3)
        return extra

    def client(self, variant: str, options: dict) -> QuorumKVClient:
        if "workload" not in options:
            raise BadInput("quorum-kv's client needs to know the workload", "options.workload")
        return QuorumKVClient(options["workload"])
