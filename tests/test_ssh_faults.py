"""The disk and link faults over SSH: real sshd hosts, each in its own network namespace
(splitbrain.harness.testing.sshd_hosts), with checked host keys; the fault programs shipped to them as plain files
(splitbrain.nemesis.remote_code) and run by the hosts' own python. Each fault is applied through the nemesis (the
code path a run takes) and its effect is seen on the host: un-fsynced data gone and fsynced data kept, a corruption
recorded and visible in the file, delay and duplication measured with the link probe, a bandwidth cap measured;
heal, teardown and ``splitbrain cleanup`` after a SIGKILLed controller leave no mount, no rule, no qdisc and no
process on the hosts.

The sshd servers run under ``ip netns exec``, which gives each its own mount namespace: a host's mounts are read
from its sshd's ``/proc/<pid>/mounts``, as a login on that host would see them.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from _cli import wait_for
from _e2e import first_run_that_finds, processes_in
from splitbrain.harness.api import Invocation
from splitbrain.harness.testing.sshd_hosts import create_sshd_hosts
from splitbrain.harness.hosts.resources import StateStore

pytestmark = [pytest.mark.netns, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent
WRITER = ROOT / "tests" / "data" / "fswriter.py"


@dataclass
class Hosts:
    hosts_file: Path
    handle: object  # splitbrain.harness.testing.sshd_hosts.SshdHosts
    state: Path
    remote: Path  # the hosts' workdir_root

    def store(self) -> StateStore:
        return StateStore(self.state)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory, root_iptables_unchanged):
    from splitbrain.harness.hosts.cleanup import cleanup

    base = tmp_path_factory.mktemp("ssh-faults")
    state, remote = base / "state", base / "remote"
    state.mkdir()
    remote.mkdir()
    store = StateStore(state)
    hosts_file, _, handle = create_sshd_hosts(2, netns=True, store=store, connect_timeout=3.0, command_timeout=20.0)
    try:
        text = hosts_file.read_text()
        hosts_file.write_text(text.replace("[defaults]\n", f'workdir_root = "{remote}"\n\n[defaults]\n'))
        yield Hosts(hosts_file, handle, state, remote)
    finally:
        try:
            cleanup(store, include_live=True)
        finally:
            handle.cleanup()


def _netns(h: Hosts, node: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", h.handle.netns[node], *argv], capture_output=True, text=True,
                          timeout=10, check=True).stdout


def leftovers(h: Hosts) -> list[str]:
    """Whatever any run left on the hosts: dirs, processes, lazy mounts, chains, qdiscs, state files."""
    left = [f"dir {p}" for p in h.remote.iterdir()]
    left += processes_in(h.remote)
    for node, pid in h.handle.pids.items():
        # The hosts share the machine's mounts: only those under the hosts' own dirs are theirs (a local run on
        # this machine at the same time has lazy mounts of its own).
        left += [f"{node}: mount {line}" for line in Path(f"/proc/{pid}/mounts").read_text().splitlines()
                 if "splitbrain-lazyfs" in line and f" {h.remote}/" in line]
        left += [f"{node}: {line}" for line in _netns(h, node, "iptables", "-w", "5", "-S").splitlines()
                 if any(c in line for c in ("sbp-", "sbl-", "sbq-"))]
        left += [f"{node}: {line}" for line in _netns(h, node, "tc", "qdisc", "show").splitlines() if "htb" in line]
    left += [f"state {p.name}" for p in h.state.glob("*.json") if p.stem != h.handle.cluster.run_id]
    return left


@pytest.fixture
def clean(hosts):
    """After the test: nothing of any run may be left on the hosts (what a failed test left is removed anyway)."""
    from splitbrain.harness.hosts.cleanup import cleanup_run

    yield hosts
    left = leftovers(hosts)
    store = hosts.store()
    for rid in store.run_ids():
        if rid != hosts.handle.cluster.run_id:
            cleanup_run(store, rid)
    assert not left, left


def _cluster(h: Hosts, n: int):
    from splitbrain.harness.hosts.ssh_cluster import create_ssh_cluster
    return create_ssh_cluster(h.hosts_file, n, store=h.store())


def _cat(c, node: str, path: str) -> str:
    return c.host(node).exec(["cat", path]).stdout


@pytest.mark.timeout(120)
def test_lose_unfsynced_over_ssh_keeps_only_fsynced_data(clean):
    from splitbrain.nemesis import apply, disk_appliers

    c = _cluster(clean, 1)
    with c:
        assert disk_appliers.mount(c, "n1")["mounted"] == c.data_dir("n1")
        assert disk_appliers.mounted(c, "n1")
        writer = f"{c.workdir}/fswriter.py"
        c.host("n1").write_file(writer, WRITER.read_text())
        c.start("n1", [c.host("n1").python, writer])
        nd = c.node_dir("n1")
        wait_for(lambda: c.host("n1").exec(["test", "-f", f"{nd}/fswriter-ready"], check=False).returncode == 0,
                 20, "the writer")
        assert _cat(c, "n1", f"{c.data_dir('n1')}/synced.txt") == "durable\nnot fsynced\n"
        daemon = c.state()["helpers"]["n1/lazyfs"]
        res = apply(c, Invocation("start-lose-unfsynced", {"nodes": ["n1"]}))
        assert res["killed"] == ["n1"] and res["restarted"] == ["n1"]
        assert res["lost"][0]["dropped-files"] == ["/unsynced.txt"]
        assert c.state()["helpers"]["n1/lazyfs"]["pid"] != daemon["pid"]  # a new daemon: the old one lost power

        def reports():
            out = c.host("n1").exec(["sh", "-c", f"ls -tr {nd}/fswriter-report-*.json"], check=False).stdout
            return out.split()
        wait_for(lambda: len(reports()) == 2, 20, "the restarted writer's report")
        seen = json.loads(_cat(c, "n1", reports()[-1]))["seen"]
        assert seen == {"synced.txt": b"durable\n".hex()}  # fsynced data kept, the rest gone


@pytest.mark.timeout(90)
def test_corrupt_over_ssh_is_recorded_and_visible_in_the_file(clean):
    from splitbrain.nemesis import apply

    c = _cluster(clean, 1)
    with c:
        path = f"{c.data_dir('n1')}/log.jsonl"
        before = '{"key": "k1", "value": 4711, "note": "some text around it"}\n'
        c.host("n1").write_file(path, before)
        res = apply(c, Invocation("start-corrupt", {"nodes": ["n1"], "mode": "value", "files": ["*.jsonl"],
                                                     "pick": 0.0, "seed": 7, "flips": 1}))
        done = res["corrupted"][0]
        assert done["node"] == "n1" and done["file"] == "log.jsonl" and done["mode"] == "value"
        (change,) = done["changes"]
        after = _cat(c, "n1", path).encode()
        assert after[change["offset"]] == int(change["after"], 16) != before.encode()[change["offset"]]
        assert json.loads(after) != json.loads(before)  # still parses: one digit of a number changed
        assert chr(int(change["before"], 16)).isdigit() and chr(int(change["after"], 16)).isdigit()


def _added_one_way(c, base: float, pings: int = 12) -> float:
    from splitbrain.nemesis.linkprobe import measure
    rtts = measure(c, "n1", "n2", pings)["rtt_ms"]
    return (statistics.median(rtts) - base) / 2


@pytest.mark.timeout(150)
def test_link_faults_over_ssh_measured_then_healed(clean):
    from splitbrain.nemesis import apply, heal_all
    from splitbrain.nemesis.linkprobe import measure, throughput

    h = clean
    c = _cluster(h, 2)
    both = {"n1": ["n2"], "n2": ["n1"]}
    with c:
        base = statistics.median(measure(c, "n1", "n2", 12)["rtt_ms"])
        res = apply(c, Invocation("start-delay", {"grudge": both, "delay_ms": 50}))
        assert res["links"] == {"n1": ["n2"], "n2": ["n1"]}
        assert "sbq-" in _netns(h, "n1", "iptables", "-w", "5", "-S", "OUTPUT")
        added = _added_one_way(c, base)
        assert 40 <= added <= 60, added  # within 20% of the asked 50 ms
        healed = apply(c, Invocation("stop-delay", None))
        assert set(healed["stopped"]) == {"n1", "n2"} and healed["stopped"]["n1"]["delayed"] > 0
        assert "sbq-" not in _netns(h, "n1", "iptables", "-w", "5", "-S")
        assert _added_one_way(c, base) < 10

        apply(c, Invocation("start-duplicate", {"grudge": {"n2": ["n1"]}, "duplicate": 0.5}))
        m = measure(c, "n1", "n2", 40, timeout=1.0)
        assert m["replies"] - m["answered"] >= 5, m  # about half of 40 pings came back twice
        apply(c, Invocation("stop-duplicate", None))

        gso = _netns(h, "n1", "ip", "-d", "link", "show")
        apply(c, Invocation("start-rate", {"grudge": {"n2": ["n1"]}, "kbit": 256}))
        assert "htb 1:" in _netns(h, "n1", "tc", "qdisc", "show")
        t = throughput(c, "n1", "n2", 256 * 1000 // 8 * 2)
        assert t["kbit_s"] < 256 * 1.5, t
        heal_all(c)
        assert "htb" not in _netns(h, "n1", "tc", "qdisc", "show")
        assert _netns(h, "n1", "ip", "-d", "link", "show") == gso  # GSO size restored as recorded


_CONTROLLER = """
import sys, time
from splitbrain.harness.api import Invocation
from splitbrain.harness.hosts.ssh_cluster import create_ssh_cluster
from splitbrain.harness.hosts.resources import StateStore
from splitbrain.nemesis import apply, disk_appliers
c = create_ssh_cluster(sys.argv[1], 2, store=StateStore(sys.argv[2]))
disk_appliers.mount(c, "n1")
apply(c, Invocation("start-delay", {"grudge": {"n1": ["n2"], "n2": ["n1"]}, "delay_ms": 20}))
apply(c, Invocation("start-rate", {"grudge": {"n1": ["n2"], "n2": ["n1"]}, "kbit": 1024}))
print(c.run_id, flush=True)
time.sleep(120)
"""


@pytest.mark.timeout(120)
def test_cleanup_after_a_killed_controller_removes_mounts_rules_qdiscs_and_helpers(clean, tmp_path):
    h = clean
    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(h.state)}
    p = subprocess.Popen([sys.executable, "-c", _CONTROLLER, str(h.hosts_file), str(h.state)], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = p.stdout.readline().strip()
        assert run_id, p.stderr.read()
        left = leftovers(h)
        assert any("mount" in x for x in left) and any("sbq-" in x for x in left), left
        assert {x.split(":")[0] for x in left if "htb" in x} == {"n1", "n2"}, left
        assert any(x.startswith("process") for x in left), left
        p.send_signal(signal.SIGKILL)  # no heal, no teardown: only the state file knows what is on the hosts
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    r = subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", "cleanup", "--run-id", run_id], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert leftovers(h) == []


class _FakeHost:
    """A remote host whose python lacks every binding: each import check fails."""

    python = "python3"
    label = "root@192.0.2.9:22"
    workdir = "/tmp/splitbrain-x"

    def __init__(self, fuse: bool = True):
        self.fuse = fuse
        self.files = {}

    def upload_package(self, package):
        return "/x"

    def exec(self, argv, **kw):
        ok = {"test": False, "mkdir": True, "touch": True, "sh": self.fuse}.get(argv[0], False)
        return subprocess.CompletedProcess(argv, 0 if ok else 1, "", "ModuleNotFoundError: No module named 'x'")

    def write_file(self, path, content):
        self.files[path] = content

    def upload_dir(self, local, remote):
        self.files[remote] = local


class _FakeCluster:
    def __init__(self, host):
        self.hosts = {"n1": host}

    def host(self, node):
        return self.hosts[node]


@pytest.mark.parametrize("program,fuse,words", [("lazyfs", False, "no /dev/fuse"),
                                                ("lazyfs", True, "FUSE"),
                                                ("netqueue", True, "NetfilterQueue")])
def test_a_host_without_what_a_fault_needs_is_refused_in_one_sentence(program, fuse, words):
    from splitbrain.history.errors import BadInput
    from splitbrain.nemesis.remote_code import ship

    with pytest.raises(BadInput) as e:
        ship(_FakeCluster(_FakeHost(fuse=fuse)), "n1", program)
    assert words in str(e.value) and "root@192.0.2.9:22" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.timeout(240)
def test_a_run_over_ssh_finds_no_fsync_under_lose_unfsynced(clean, tmp_path, monkeypatch):
    """The whole run over SSH (``splitbrain run --hosts``): the data dirs mounted on the hosts before the nodes
    start, acknowledged adds lost in a power cut, nothing left afterwards (the ``clean`` fixture)."""
    from splitbrain.harness.run.spec import TestSpec

    monkeypatch.setenv("SPLITBRAIN_STATE_DIR", str(clean.state))

    def spec(seed):
        return TestSpec(system="quorum-kv", variant="no-fsync", workload="set", nemesis=("lose-unfsynced",),
                        nodes=2, time_limit=8, rate=60, seed=seed, nemesis_interval=3, nemesis_duration=2,
                        recovery_time=1, hosts_file=str(clean.hosts_file))
    out, tried = first_run_that_finds(tmp_path, spec, [1, 2, 3], lambda o: o.results["valid"] is False)
    assert out.results["valid"] is False, f"not found in seeds {tried}"
    ops = [json.loads(line) for line in (out.run_dir / "history.jsonl").read_text().splitlines()]
    lost = [op["value"] for op in ops if op["f"] == "start-lose-unfsynced" and op["type"] == "ok"]
    assert lost and all(v["killed"] for v in lost)
    assert json.loads((out.run_dir / "cluster.json").read_text())["mode"] == "ssh"
