"""raft-kv as real processes on 127.0.0.1: 3 nodes per test, killed by pid and their temp dir removed by the
fixture whatever happens. Covers election, replication, leader failover, restart catch-up by log and by snapshot,
cas, and deduplication of a retried write (applied once in ``correct``, twice in ``no-dedup``)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from splitbrain.harness.api import Invocation, NodeAddress
from splitbrain.harness.systems.raft_kv import RaftKV

REPO = Path(__file__).resolve().parents[1]
# Nodes run under libfaketime in real runs (time.sleep and thread hand-offs misbehave there): test them so too.
FAKETIME = next((p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                             "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1") if os.path.exists(p)), None)
FAST = {"election_timeout": [0.15, 0.3], "heartbeat_interval": 0.03}


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    def __init__(self, variant: str, extra: dict | None = None, n: int = 3):
        self.dir = Path(tempfile.mkdtemp(prefix="raftkv-test-"))
        self.variant = variant
        self.addrs = {f"n{i}": NodeAddress(f"n{i}", "127.0.0.1", p)
                      for i, p in enumerate(_free_ports(n), start=1)}
        self.extra = {**FAST, **(extra or {})}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        from splitbrain.harness.api import node_config
        d = self.dir / name
        d.mkdir(exist_ok=True)
        cfg = node_config(self.addrs[name], list(self.addrs.values()), self.variant, str(d), self.extra)
        (d / "node.json").write_text(json.dumps(cfg))
        argv = RaftKV().node_command(sys.executable, str(d / "node.json"))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if FAKETIME:
            (d / "faketime.rc").write_text("+0\n")
            env.update(LD_PRELOAD=FAKETIME, FAKETIME_TIMESTAMP_FILE=str(d / "faketime.rc"), FAKETIME_NO_CACHE="1",
                       DONT_FAKE_MONOTONIC="1")
        with open(d / "node.log", "ab") as logf:
            self.procs[name] = subprocess.Popen(argv, cwd=d, stdout=logf, stderr=logf, start_new_session=True,
                                                env=env)

    def kill(self, name: str) -> None:
        p = self.procs.pop(name, None)
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, name: str, msg: dict, timeout: float = 3.0) -> dict:
        a = self.addrs[name]
        with socket.create_connection((a.host, a.port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall((json.dumps({"id": 1, **msg}) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
        return json.loads(buf)

    def status(self, name: str, digest: bool = False) -> dict | None:
        try:
            return self.request(name, {"type": "status", "digest": digest}, timeout=1.0)
        except OSError:
            return None

    def wait_leader(self, timeout: float = 10.0, min_term: int = 0) -> tuple[str, int]:
        """A leader all running nodes agree on (in a term >= min_term)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sts = [self.status(n) for n in self.procs]
            if all(sts) and len({(s["leader"], s["term"]) for s in sts}) == 1:
                leader, term = sts[0]["leader"], sts[0]["term"]
                if leader is not None and term >= min_term and leader in self.procs:
                    return leader, term
            time.sleep(0.05)
        raise AssertionError(f"no agreed leader within {timeout} s: {[self.status(n) for n in self.procs]}")

    def wait_caught_up(self, name: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader, _ = self.wait_leader()
            lst, st = self.status(leader, digest=True), self.status(name, digest=True)
            if st and lst and st["last_applied"] == lst["last_applied"] and st["digest"] == lst["digest"]:
                return st
            time.sleep(0.05)
        raise AssertionError(f"{name} did not catch up: {self.status(name)} vs leader {self.status(leader)}")


@pytest.fixture
def cluster():
    made: list[Cluster] = []

    def make(variant: str = "correct", extra: dict | None = None) -> Cluster:
        c = Cluster(variant, extra)
        made.append(c)
        for name in c.addrs:
            c.start(name)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.stop_all()


def ok(reply: dict) -> dict:
    assert reply.get("ok"), reply
    return reply


@pytest.mark.timeout(30)
def test_leader_elected_and_writes_on_any_node_are_readable_on_all(cluster):
    c = cluster()
    leader, term = c.wait_leader()
    assert term >= 1
    for i, name in enumerate(c.addrs):
        ok(c.request(name, {"type": "write", "key": f"k{i}", "value": i}))
    for name in c.addrs:
        for i in range(len(c.addrs)):
            assert ok(c.request(name, {"type": "read", "key": f"k{i}"}))["value"] == i
    st = c.status(leader)
    assert st["role"] == "leader" and st["variant"] == "correct" and st["commit_index"] >= 4


@pytest.mark.timeout(30)
def test_killing_the_leader_elects_another_and_keeps_acknowledged_writes(cluster):
    c = cluster()
    leader, term = c.wait_leader()
    follower = next(n for n in c.addrs if n != leader)
    for v in range(20):
        ok(c.request(follower, {"type": "counter-add", "key": "c", "value": 1, "client": "t", "seq": v + 1}))
    ok(c.request(leader, {"type": "write", "key": "x", "value": "before"}))
    c.kill(leader)
    new_leader, new_term = c.wait_leader(min_term=term + 1)
    assert new_leader != leader and new_term > term
    for name in c.procs:
        assert ok(c.request(name, {"type": "counter-read", "key": "c"}))["value"] == 20
        assert ok(c.request(name, {"type": "read", "key": "x"}))["value"] == "before"
    ok(c.request(new_leader, {"type": "write", "key": "x", "value": "after"}))


@pytest.mark.timeout(45)
def test_restarted_node_catches_up_by_log_and_then_by_snapshot(cluster):
    c = cluster(extra={"snapshot_threshold": 20})
    leader, _ = c.wait_leader()
    victim = next(n for n in c.addrs if n != leader)
    ok(c.request(leader, {"type": "write", "key": "a", "value": 0}))
    c.kill(victim)
    for v in range(1, 6):  # fewer than the threshold: the leader keeps the entries the victim misses
        ok(c.request(leader, {"type": "set-add", "key": "s", "value": v}))
    c.start(victim)
    st = c.wait_caught_up(victim)
    assert st["snapshots_installed"] == 0  # caught up by the log alone

    c.kill(victim)
    leader, _ = c.wait_leader()
    for v in range(6, 70):  # several thresholds: the leader compacts past what the victim has
        ok(c.request(leader, {"type": "set-add", "key": "s", "value": v}))
    lst = c.status(leader)
    assert lst["snapshot_index"] > st["last_applied"] and lst["log_length"] < 40
    c.start(victim)
    st = c.wait_caught_up(victim)
    assert st["snapshots_installed"] >= 1 and st["snapshot_index"] >= lst["snapshot_index"]
    assert sorted(ok(c.request(victim, {"type": "set-read", "key": "s"}))["value"]) == list(range(1, 70))


@pytest.mark.timeout(30)
def test_cas(cluster):
    c = cluster()
    c.wait_leader()
    assert ok(c.request("n1", {"type": "cas", "key": "r", "value": [None, 1]}))
    bad = c.request("n2", {"type": "cas", "key": "r", "value": [5, 6]})
    assert (bad["ok"], bad["error"]) == (False, "cas-mismatch")
    ok(c.request("n3", {"type": "cas", "key": "r", "value": [1, 2]}))
    assert ok(c.request("n1", {"type": "read", "key": "r"}))["value"] == 2


@pytest.mark.timeout(40)
@pytest.mark.parametrize("variant,expected", [("correct", 5), ("no-dedup", 10)])
def test_same_client_and_seq_applies_once_unless_no_dedup(cluster, variant, expected):
    c = cluster(variant)
    c.wait_leader()
    add = {"type": "counter-add", "key": "c", "value": 5, "client": "dup", "seq": 1}
    ok(c.request("n1", add))
    ok(c.request("n2", add))  # the retry, through another node
    for name in c.addrs:
        assert ok(c.request(name, {"type": "counter-read", "key": "c"}))["value"] == expected


@pytest.mark.timeout(40)
@pytest.mark.parametrize("variant", ["correct", "volatile-vote"])
def test_a_restarted_voter_remembers_its_vote_unless_volatile_vote(cluster, variant):
    c = cluster(variant)
    leader, term = c.wait_leader()
    voter = next(n for n in c.addrs if n != leader and c.status(n)["voted_for"] == leader)
    c.kill(voter)
    c.start(voter)
    deadline = time.monotonic() + 5
    # (volatile-vote restarts in its last entry's term; the leader's next heartbeat brings it to ``term``.)
    while ((st := c.status(voter)) is None or st["term"] != term) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert st is not None and st["term"] == term
    # correct: the vote in this term survives the restart; volatile-vote: forgotten, free to vote again.
    assert st["voted_for"] == (leader if variant == "correct" else None)


@pytest.mark.timeout(40)
def test_adapter_client_retries_and_leader_view(cluster):
    """The adapter's client maps workload ops and survives its node dying (retry elsewhere, same seq);
    ``leader`` reports the majority's view."""
    c = cluster()
    leader, term = c.wait_leader()
    system = RaftKV()
    addrs = list(c.addrs.values())

    async def go():
        assert await system.leader(addrs, 1.0) == (leader, term)
        client = system.client("correct", {"workload": "counter"})
        await client.open(c.addrs[leader])
        assert len(client.order) == 3  # learned the other nodes from status
        done = await client.invoke(Invocation("add", 3), 2.0)
        assert done.type == "ok"
        c.kill(leader)
        done = await client.invoke(Invocation("add", 4), 5.0)
        assert done.type == "ok", done
        done = await client.invoke(Invocation("read"), 5.0)
        await client.close()
        return done

    done = asyncio.run(go())
    assert (done.type, done.value) == ("ok", 7)
