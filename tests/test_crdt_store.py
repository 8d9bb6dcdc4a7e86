"""crdt-store with real processes on 127.0.0.1 (3 replicas): convergence, OR-set add-wins, restart from the log,
anti-entropy after SIGSTOP, and the seeded bugs (no-anti-entropy, two-phase-set, fifo-only).

Every node is started by the ``cluster`` fixture and killed by pid when the test ends, pass or fail.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from splitbrain.checkers.causal import check_delivery_order

REPO = Path(__file__).resolve().parent.parent
NODES = ("n1", "n2", "n3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path, variant: str, extra: dict, per_node: dict):
        self.root = root
        self.variant = variant
        self.addrs = {n: ["127.0.0.1", _free_port()] for n in NODES}
        self.procs: dict[str, subprocess.Popen] = {}
        self.conns: dict[str, object] = {}
        for n in NODES:
            d = root / n
            d.mkdir()
            cfg = {"node": n, "listen": self.addrs[n], "nodes": self.addrs, "variant": variant,
                   "data_dir": str(d), **extra, **per_node.get(n, {})}
            (d / "node.json").write_text(json.dumps(cfg))

    def start(self, n: str) -> None:
        d = self.root / n
        log = open(d / "node.log", "ab")
        self.procs[n] = subprocess.Popen(
            [sys.executable, "-m", "splitbrain.systems_under_test.crdt_store.server", "--config", str(d / "node.json")],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                self.req(n, type="status")
                return
            except OSError:
                self.conns.pop(n, None)
                if time.monotonic() > deadline or self.procs[n].poll() is not None:
                    raise RuntimeError(f"{n} did not start: {(d / 'node.log').read_text()[-2000:]}")
                time.sleep(0.05)

    def req(self, n: str, **msg):
        f = self.conns.get(n)
        if f is None:
            sock = socket.create_connection(tuple(self.addrs[n]), timeout=5)
            f = self.conns[n] = sock.makefile("rw")
        f.write(json.dumps({"id": 1, **msg}) + "\n")
        f.flush()
        line = f.readline()
        if not line:
            self.conns.pop(n, None)
            raise ConnectionResetError(n)
        reply = json.loads(line)
        assert reply["ok"], reply
        return reply.get("value")

    def kill(self, n: str) -> None:
        p = self.procs.pop(n, None)
        f = self.conns.pop(n, None)
        if f is not None:
            f.close()
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGCONT)  # a stopped process must be able to die
            p.kill()
            p.wait(5)

    def signal(self, n: str, sig: int) -> None:
        self.procs[n].send_signal(sig)

    def links_up(self, timeout: float) -> None:
        """Wait until every replica's links to its peers are open (updates made before are only repaired by
        anti-entropy, which some tests slow down or switch off)."""
        deadline = time.monotonic() + timeout
        while not all(p["up"] for n in NODES for p in self.req(n, type="status")["peers"].values()):
            assert time.monotonic() < deadline, "replication links did not come up"
            time.sleep(0.05)

    def converged(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = [self.req(n, type="status") for n in NODES]
            if all(s["delivered"] == st[0]["delivered"] and s["pending"] == 0 for s in st):
                return True
            time.sleep(0.05)
        return False

    def delivery_logs(self) -> dict:
        return {n: self.req(n, type="delivery-log")["entries"] for n in NODES}


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(variant="correct", *, start=True, per_node=None, **extra):
        extra = {"anti_entropy_interval": 0.2, "ack_timeout": 0.5, **extra}
        root = tmp_path / f"c{len(made)}"
        root.mkdir()
        c = Cluster(root, variant, extra, per_node or {})
        made.append(c)
        if start:
            for n in NODES:
                c.start(n)
            c.links_up(10)
        return c

    try:
        yield make
    finally:
        for c in made:
            for n in list(c.procs):
                c.kill(n)


@pytest.mark.timeout(30)
def test_updates_converge_and_delivery_is_causal(cluster):
    c = cluster(link_delay=[0.0, 0.02])
    for i in range(30):
        n = NODES[i % 3]
        c.req(n, type="counter-add", key="c", value=(i % 5) - 1)
        c.req(n, type="set-add", key="s", value=i)
        c.req(n, type="lww-write", key="r", value=i)
        c.req(n, type="mv-write", key="m", value=i)
    assert c.converged(10)
    states = [c.req(n, type="state") for n in NODES]
    assert states[0] == states[1] == states[2]
    assert c.req("n2", type="counter-read", key="c") == sum((i % 5) - 1 for i in range(30))
    assert c.req("n3", type="set-read", key="s") == list(range(30))
    assert c.req("n1", type="lww-read", key="r") == 29  # one machine's clock: the last write is the latest
    mv = c.req("n1", type="mv-read", key="m")  # writes racing on the slow links stay side by side
    assert 29 in mv and set(mv) <= set(range(25, 30))
    res = check_delivery_order(c.delivery_logs())
    assert res["valid"] is True and res["delivered"] == {n: 120 for n in NODES}


@pytest.mark.timeout(30)
def test_or_set_add_wins_over_a_concurrent_remove(cluster):
    # Links slow enough that a remove at n1 and an add at n2 issued together cannot see each other.
    c = cluster(link_delay=[0.4, 0.4])
    c.req("n1", type="set-add", value="a")
    assert c.converged(10)
    c.req("n1", type="set-remove", value="a")
    c.req("n2", type="set-add", value="a")
    assert c.converged(10)
    assert [c.req(n, type="set-read") for n in NODES] == [["a"]] * 3
    # A remove that has seen every add does remove.
    c.req("n3", type="set-remove", value="a")
    assert c.converged(10)
    assert [c.req(n, type="set-read") for n in NODES] == [[]] * 3


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["correct", "two-phase-set"])
def test_re_add_after_remove(cluster, variant):
    c = cluster(variant)
    c.req("n1", type="set-add", value="a")
    assert c.converged(10)
    c.req("n1", type="set-remove", value="a")
    assert c.converged(10)
    assert c.req("n2", type="set-add", value="a") == "a"  # acknowledged either way
    assert c.converged(10)
    expected = [["a"]] * 3 if variant == "correct" else [[]] * 3
    assert [c.req(n, type="set-read") for n in NODES] == expected


@pytest.mark.timeout(30)
def test_killed_replicas_restart_with_their_state(cluster):
    c = cluster()
    for i in range(20):
        c.req(NODES[i % 3], type="counter-add", value=1)
        c.req(NODES[i % 3], type="set-add", value=i)
    c.req("n1", type="lww-write", key="k", value="v")
    assert c.converged(10)
    before = c.req("n3", type="state")
    for n in NODES:  # all of them: nobody is left to refill a restarted replica
        c.kill(n)
    for n in NODES:
        c.start(n)
        assert c.req(n, type="state") == before
        assert c.req(n, type="delivery-log")["total"] == 41
    c.req("n2", type="counter-add", value=5)  # and they go on replicating
    assert c.converged(10)
    assert c.req("n1", type="counter-read") == 25


@pytest.mark.timeout(40)
@pytest.mark.parametrize("variant", ["correct", "no-anti-entropy"])
def test_anti_entropy_catches_up_a_paused_replica(cluster, variant):
    c = cluster(variant)
    c.signal("n3", signal.SIGSTOP)
    try:
        for _ in range(10):  # spread over longer than the ack timeout, so the link to n3 gives up
            c.req("n1", type="counter-add", value=1)
            time.sleep(0.15)
    finally:
        c.signal("n3", signal.SIGCONT)
    c.req("n1", type="counter-add", value=1)
    deadline = time.monotonic() + (6 if variant == "correct" else 3)
    while time.monotonic() < deadline and c.req("n3", type="counter-read") != 11:
        time.sleep(0.1)
    assert c.req("n2", type="counter-read") == 11
    if variant == "correct":
        assert c.req("n3", type="counter-read") == 11
    else:
        assert c.req("n3", type="counter-read") < 11
        assert c.req("n3", type="status")["delivered"].get("n1", 0) < 11


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["correct", "fifo-only"])
def test_fifo_only_delivers_out_of_causal_order(cluster, variant):
    # n1's link to n3 is slow (and anti-entropy too rare to relay a in time): n3 hears of n2's update b, made after
    # n2 delivered n1's a, before it hears of a.
    c = cluster(variant, per_node={"n1": {"link_delay_to": {"n3": [1.0, 1.0]}}}, anti_entropy_interval=30.0)
    c.req("n1", type="lww-write", key="x", value="a")
    deadline = time.monotonic() + 5
    while c.req("n2", type="lww-read", key="x") != "a":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    c.req("n2", type="lww-write", key="y", value="b")
    time.sleep(0.3)
    seen = (c.req("n3", type="lww-read", key="x"), c.req("n3", type="lww-read", key="y"))
    assert c.converged(10)
    res = check_delivery_order(c.delivery_logs())
    if variant == "correct":
        assert seen == (None, None)  # b waits in n3's buffer until a arrives
        assert res["valid"] is True
    else:
        assert seen == (None, "b")
        assert res["valid"] is False
        assert {(a["node"], a["type"]) for a in res["anomalies"]} == {("n3", "causal-violation")}


def test_adapter_final_read_all_reads_every_key_from_one_snapshot():
    from splitbrain.harness.api import Invocation
    from splitbrain.harness.systems.crdt_store import CrdtClient, CrdtStoreSystem

    c = CrdtClient("lww")
    op = Invocation("final-read-all", ["k0", "k1", ["odd", 1]])
    assert c.to_request(op) == {"type": "state"}
    state = {"lww": [["k0", 5], [["odd", 1], "v"]], "counter": [["k1", 7]], "set": [], "mv": [], "gcounter": []}
    done = c.from_reply(op, {"id": 1, "ok": True, "value": state})
    assert done.type == "ok" and done.value == [["k0", 5], ["k1", None], [["odd", 1], "v"]]
    assert CrdtClient("counter").from_reply(op, {"ok": True, "value": state}).value == [["k0", 0], ["k1", 7],
                                                                                       [["odd", 1], 0]]
    failed = c.from_reply(op, {"ok": False, "error": "unavailable"})
    assert failed.type == "fail"  # a read changes nothing: a definite failure
    with pytest.raises(ValueError):
        c.to_request(Invocation("final-read-all", None))
    system = CrdtStoreSystem()
    for w in ("counter", "crdt-counter", "or-set", "crdt-set", "lww-register", "causal-kv"):
        assert w in system.workloads
    assert system.workload_options("counter") == {"read_fraction": 0.0}
    assert system.client("correct", {"workload": "or-set"}).crdt_type == "set"
    assert system.client("correct", {"workload": "lww-register"}).crdt_type == "lww"


def test_in_sync_needs_no_pending_and_every_peer_up_and_caught_up():
    from splitbrain.harness.systems.crdt_store import _in_sync

    peers = {"n2": {"up": True, "known": {"n1": 3, "n2": 5}}, "n3": {"up": True, "known": {"n1": 3, "n2": 5}}}
    st = {"delivered": {"n1": 3, "n2": 5}, "pending": 0, "peers": peers}
    assert _in_sync(st)
    assert not _in_sync({**st, "pending": 1})
    assert not _in_sync({**st, "peers": {**peers, "n3": {"up": False, "known": {"n1": 3, "n2": 5}}}})
    assert not _in_sync({**st, "peers": {**peers, "n3": {"up": True, "known": {"n1": 2, "n2": 5}}}})
    assert not _in_sync({**st, "peers": {**peers, "n3": {"up": True, "known": None}}})
    assert _in_sync({"delivered": {"n1": 4}, "pending": 0, "peers": {}})  # a single node is in sync with itself
    assert not _in_sync({})
