"""The harness side of twopc-kv (systems_under_test/twopc_kv): a sharded store with two-phase commit.

The client is the generic JSON-lines one: a ``txn`` op goes out as ``{"type": "txn", "value": micro-ops}`` and the
reply's value (the micro-ops with reads filled) is the completion. ``aborted`` is a definite failure (the
coordinator logged the abort before answering); a timeout is ``info``: 2PC blocks while a coordinator is away, and
a transaction whose coordinator died after phase one may still commit when it comes back.
"""

from __future__ import annotations

from splitbrain.harness.api import System
from splitbrain.harness.jsonline_client import JsonLineClient
from splitbrain.history.errors import BadInput


class TwoPCKV(System):
    name = "twopc-kv"
    description = ("A sharded key-value store (a shard per node) with two-phase commit across shards: strict "
                   "two-phase locking, a durable prepare and decision log, in-doubt recovery by asking the "
                   "coordinator (which blocks while the coordinator is away, as 2PC does).")
    variants = {
        "correct": "",
        "no-durable-prepare": "a participant keeps its prepare record in memory only: killed after voting yes, it "
                              "forgets the transaction and acknowledges the commit without applying it (atomicity "
                              "lost)",
        "early-lock-release": "a participant releases its locks once it voted yes: another transaction prepares on "
                              "the old values and overwrites the first (lost updates, G-single)",
        "read-uncommitted": "reads skip the locks and see prepared, uncommitted writes (G1a aborted reads, G1b)",
        "presumed-commit": "a participant that restarts with transactions in doubt commits them without asking "
                           "the coordinator (aborted transactions' writes appear: G1a)",
    }
    workloads = ("list-append", "rw-register")
    base_port = 7000
    package = "splitbrain.systems_under_test.twopc_kv"

    def node_command(self, python: str, config_path: str) -> list[str]:
        return [python, "-m", "splitbrain.systems_under_test.twopc_kv.server", "--config", config_path]

    def node_config_extra(self, variant: str, options: dict) -> dict:
        """Phase one (lock waits included) must end before the client gives up, else an abort the coordinator
        decided would be recorded as an unknown outcome: ``timeout`` is three quarters of ``op_timeout``."""
        if variant not in self.variants:
            raise BadInput(f"twopc-kv has no variant {variant!r} (known: {', '.join(self.variants)})", "--variant")
        if options.get("coordinator_timeout") is not None:
            return {"timeout": float(options["coordinator_timeout"])}
        if options.get("op_timeout"):
            return {"timeout": round(0.75 * float(options["op_timeout"]), 3)}
        return {}

    def workload_options(self, workload: str) -> dict:
        """Keys live 8 s (not 2): a killed participant is down for the fault's duration (3 s by default), and what
        it did wrong on recovery shows only in reads of the keys it held, so those keys must still be in use."""
        return {"key_window_s": 8.0}

    def client(self, variant: str, options: dict) -> JsonLineClient:
        if options.get("workload") not in self.workloads:
            raise BadInput(f"twopc-kv speaks only transactions (workloads: {', '.join(self.workloads)})",
                           "--workload")
        return JsonLineClient()
