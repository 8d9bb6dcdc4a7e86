"""``splitbrain run --hosts FILE`` end to end: real sshd hosts (each in its own network namespace, via
splitbrain.harness.testing.sshd_hosts), the quorum store installed over SSH, partitions and kills applied over SSH, verdicts, and
nothing left on the hosts afterwards, also after Ctrl-C or a SIGKILLed controller (then `splitbrain cleanup`).

Every run goes through the CLI in a subprocess, as a user would start it. The specs of the verdict runs are those
of tests/test_e2e_quorum.py (the local mode): same system, variants, faults, timing and seed, same verdicts.

The hosts file carries two secrets (the client key's passphrase, and a password given through ``password_env``);
neither may appear in a run directory, the state dir or the CLI's output. After every test, a fixture looks for
leftovers on the hosts (processes whose cwd is in the hosts' working-dir root, iptables chains in their namespaces,
working dirs, state files) before it removes whatever a failed test left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from splitbrain.harness.testing.sshd_hosts import create_sshd_hosts
from splitbrain.harness.hosts.resources import StateStore

pytestmark = [pytest.mark.netns, pytest.mark.e2e]

REPO = Path(__file__).resolve().parent.parent
PASSPHRASE = "pp-" + uuid.uuid4().hex
PASSWORD = "pw-" + uuid.uuid4().hex
PASSWORD_ENV = "SB_SSH_E2E_PASSWORD"
CONNECT_TIMEOUT = 3.0
#: The spec of tests/test_e2e_quorum.py's runs (the local mode), as CLI flags.
LOCAL_SPEC = ["--system", "quorum-kv", "--workload", "register", "--nodes", "3", "--time-limit", "12", "--rate", "60",
              "--nemesis-interval", "3", "--nemesis-duration", "2", "--recovery-time", "2", "--op-timeout", "0.5",
              "--seed", "1"]


@dataclass
class Env:
    hosts_file: Path
    handle: object  # splitbrain.harness.testing.sshd_hosts.SshdHosts
    state: Path
    remote: Path  # the hosts' workdir_root: every run's working dir is made in it
    base: Path

    @property
    def hosts_run_id(self) -> str:
        return self.handle.cluster.run_id

    def env(self) -> dict:
        return {**os.environ, "SPLITBRAIN_STATE_DIR": str(self.state), PASSWORD_ENV: PASSWORD}


@pytest.fixture(scope="module")
def ssh_env(tmp_path_factory, root_iptables_unchanged):
    """Three sshd hosts in namespaces, a hosts file with both secrets and a private workdir_root; a private state
    dir. Torn down (SSH runs first, then the hosts) whatever happens."""
    from splitbrain.harness.hosts.cleanup import cleanup

    base = tmp_path_factory.mktemp("ssh-e2e")
    state, remote = base / "state", base / "remote"
    state.mkdir()
    remote.mkdir()
    store = StateStore(state)
    hosts_file, _, handle = create_sshd_hosts(3, netns=True, store=store, key_passphrase=PASSPHRASE,
                                              connect_timeout=CONNECT_TIMEOUT, command_timeout=15.0)
    try:
        text = hosts_file.read_text()
        assert "[defaults]\n" in text
        hosts_file.write_text(text.replace("[defaults]\n", f'workdir_root = "{remote}"\n\n[defaults]\n'
                                                          f'password_env = "{PASSWORD_ENV}"\n'))
        yield Env(hosts_file, handle, state, remote, base)
    finally:
        try:
            cleanup(store, include_live=True)  # SSH runs first, while their hosts still answer
        finally:
            handle.cleanup()


def _leftovers(env: Env) -> list[str]:
    left = [f"dir {p}" for p in env.remote.iterdir()]
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cwd = os.readlink(p / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(env.remote) + "/"):
                left.append(f"process {p.name} in {cwd}")
    for node, ns in env.handle.netns.items():
        rules = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w", "5", "-S"], capture_output=True,
                               text=True, timeout=10, check=True).stdout
        left += [f"{node}: {line}" for line in rules.splitlines() if "sbp-" in line or "sbl-" in line]
    left += [f"state {p.name}" for p in env.state.glob("*.json") if p.stem != env.hosts_run_id]
    return left


@pytest.fixture
def clean(ssh_env):
    """After the test: nothing of any run may be left on the hosts; a failed test's leftovers are removed anyway."""
    from splitbrain.harness.hosts.cleanup import cleanup_run

    yield ssh_env
    left = _leftovers(ssh_env)
    store = StateStore(ssh_env.state)
    for rid in store.run_ids():
        if rid != ssh_env.hosts_run_id:
            cleanup_run(store, rid)
    assert not left, left


def _cli(env: Env, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", *args], cwd=REPO, env=env.env(), capture_output=True,
                          text=True, timeout=timeout)


def _run_dir(store: Path) -> Path:
    dirs = [p.parent for p in store.glob("*/*/test.json") if "latest" not in p.parts]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _assert_no_secret(*texts: str, dirs: tuple[Path, ...] = ()) -> None:
    for t in texts:
        assert PASSPHRASE not in t and PASSWORD not in t
    for d in dirs:
        for f in d.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert PASSPHRASE.encode() not in data and PASSWORD.encode() not in data, f


@pytest.mark.timeout(90)
@pytest.mark.parametrize("variant,nemesis,exit_code", [("correct", "partition,kill", 0), ("r1w1", "partition", 1)])
def test_verdicts_over_ssh_match_the_local_mode(clean, tmp_path, variant, nemesis, exit_code):
    env = clean
    r = _cli(env, "run", "--hosts", str(env.hosts_file), *LOCAL_SPEC, "--variant", variant, "--nemesis", nemesis,
             "--store", str(tmp_path / "store"), "--quiet")
    assert r.returncode == exit_code, r.stdout + r.stderr
    run = _run_dir(tmp_path / "store")
    results = json.loads((run / "results.json").read_text())
    assert results["results"]["linearizable"]["valid"] is (exit_code == 0), results["results"]["linearizable"]
    faults = {json.loads(line)["f"] for line in (run / "history.jsonl").read_text().splitlines()
              if json.loads(line)["process"] == "nemesis"}
    assert {f"start-{n}" for n in nemesis.split(",")} <= faults
    cluster = json.loads((run / "cluster.json").read_text())
    assert cluster["mode"] == "ssh"
    test = json.loads((run / "test.json").read_text())
    assert test["hosts_file"] == str(env.hosts_file) and f"--hosts {env.hosts_file}" in test["command"]
    for node in ("n1", "n2", "n3"):  # node logs came back over SFTP
        assert (run / "nodes" / node / "node.stderr.log").exists()
        assert json.loads((run / "nodes" / node / "node.json").read_text())["variant"] == variant
    _assert_no_secret(r.stdout, r.stderr, dirs=(run, env.state))


def _copy_hosts_file(env: Env, tmp_path: Path, known_hosts_text: str) -> Path:
    kh = tmp_path / "known_hosts"
    kh.write_text(known_hosts_text)
    lines = [f'known_hosts = "{kh}"' if line.startswith("known_hosts =") else line
             for line in env.hosts_file.read_text().splitlines()]
    hf = tmp_path / "hosts.toml"
    hf.write_text("\n".join(lines) + "\n")
    return hf


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["wrong-host-key", "sshd-stopped", "ssh-port-dropped"])
def test_unusable_hosts_fail_fast_with_one_sentence(clean, tmp_path, fault):
    env = clean
    hosts_file = env.hosts_file
    undo = None
    if fault == "wrong-host-key":  # n1's entry carries n2's key
        lines = env.handle.known_hosts.read_text().splitlines()
        n2_key = lines[1].split()[1:]
        lines[0] = " ".join([lines[0].split()[0], *n2_key])
        hosts_file, node, words = _copy_hosts_file(env, tmp_path, "\n".join(lines) + "\n"), "n1", "host key"
    elif fault == "sshd-stopped":
        pid = env.handle.pids["n2"]
        os.kill(pid, signal.SIGSTOP)
        undo, node, words = (lambda: os.kill(pid, signal.SIGCONT)), "n2", "no SSH banner"
    else:  # the host's own firewall (inside its namespace, never the root one) drops SSH
        ns = env.handle.netns["n3"]
        rule = ["-p", "tcp", "--dport", "22", "-j", "DROP"]
        subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w", "5", "-I", "INPUT", *rule], check=True,
                       timeout=10)
        undo = lambda: subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w", "5", "-D", "INPUT", *rule],  # noqa: E731
                                      check=True, timeout=10)
        node, words = "n3", "connect timeout"
    try:
        t0 = time.monotonic()
        r = _cli(env, "run", "--hosts", str(hosts_file), *LOCAL_SPEC, "--nemesis", "partition",
                 "--store", str(tmp_path / "store"), "--quiet", timeout=40)
        took = time.monotonic() - t0
    finally:
        if undo is not None:
            undo()
    assert r.returncode == 254, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr  # one sentence, no traceback (paramiko's own are kept quiet)
    assert lines[0].startswith(f"splitbrain: {node} (root@") and words in lines[0], lines[0]
    assert took < CONNECT_TIMEOUT + 10, took  # bounded by the connect timeout (plus start-up), never a hang
    _assert_no_secret(r.stdout, r.stderr, dirs=(tmp_path / "store", env.state))


def _start_run(env: Env, tmp_path: Path, nemesis: str) -> tuple[subprocess.Popen, Path]:
    out = open(tmp_path / "cli.out", "w")
    p = subprocess.Popen([sys.executable, "-m", "splitbrain.harness.commands.main", "run", "--hosts", str(env.hosts_file), *LOCAL_SPEC,
                          "--nemesis", nemesis, "--nemesis-interval", "2", "--nemesis-duration", "1.5",
                          "--time-limit", "60", "--store", str(tmp_path / "store"), "--quiet"],
                         cwd=REPO, env=env.env(), stdout=out, stderr=subprocess.STDOUT)
    out.close()
    return p, tmp_path / "cli.out"


def _wait_for_fault(p: subprocess.Popen, store: Path, f: str, timeout: float = 30) -> Path:
    """The run dir, once the history holds a completed ``f`` (the fault is in place on the hosts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert p.poll() is None, "the run ended early"
        for h in (h for h in store.glob("*/*/history.jsonl") if "latest" not in h.parts):
            for line in h.read_text().splitlines():
                try:
                    op = json.loads(line)
                except ValueError:
                    continue  # a line being written
                if op["f"] == f and op["type"] == "ok":
                    return h.parent
        time.sleep(0.2)
    raise AssertionError(f"no {f} within {timeout} s")


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.kill()
        p.wait(10)


@pytest.mark.timeout(90)
def test_ctrl_c_heals_fetches_logs_and_leaves_nothing(clean, tmp_path):
    env = clean
    p, out = _start_run(env, tmp_path, "partition")
    try:
        run = _wait_for_fault(p, tmp_path / "store", "start-partition")
        p.send_signal(signal.SIGINT)
        assert p.wait(40) == 130, out.read_text()
    finally:
        _stop(p)
    assert "interrupted" in out.read_text()
    for node in ("n1", "n2", "n3"):  # the logs were fetched on the way out
        assert (run / "nodes" / node / "node.stderr.log").exists()
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert any(op["type"] == "ok" and op["process"] != "nemesis" for op in ops)
    _assert_no_secret(out.read_text(), dirs=(run, env.state))


@pytest.mark.timeout(90)
def test_cleanup_after_a_killed_controller_removes_everything_over_ssh(clean, tmp_path):
    env = clean
    p, out = _start_run(env, tmp_path, "partition")
    try:
        run = _wait_for_fault(p, tmp_path / "store", "start-partition")
        p.send_signal(signal.SIGKILL)  # no finally, no heal: only the state file knows what is on the hosts
        p.wait(10)
    finally:
        _stop(p)
    run_id = json.loads((run / "cluster.json").read_text())["run_id"]
    state = json.loads((env.state / f"{run_id}.json").read_text())
    assert state["mode"] == "ssh" and state["hosts_file"] == str(env.hosts_file)
    left = _leftovers(env)  # the crash really left processes, chains and dirs behind
    assert any(x.startswith("process") for x in left) and any("-j DROP" in x for x in left), left
    assert any(x.startswith("dir") for x in left), left

    r = _cli(env, "cleanup", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{run_id}: removed" in r.stdout and "killed 3 processes" in r.stdout, r.stdout
    # the sshd hosts themselves belong to this (live) test session: skipped, not removed
    assert f"{env.hosts_run_id}: skipped" in r.stdout, r.stdout
    _assert_no_secret(r.stdout, r.stderr, dirs=(run, env.state))


def test_hosts_file_must_give_each_node_a_host_of_its_own(sb_state_dir, tmp_path):
    from splitbrain.history.errors import BadInput
    from splitbrain.harness.hosts.ssh_cluster import create_ssh_cluster

    key = tmp_path / "id"
    key.write_text("not used: nothing connects\n")
    hosts = tmp_path / "hosts.toml"
    hosts.write_text(f'[defaults]\nkey_file = "{key}"\n\n[[hosts]]\nname = "a"\naddress = "10.0.0.1"\n\n'
                     '[[hosts]]\nname = "b"\naddress = "10.0.0.1"\nport = 2222\n')
    with pytest.raises(BadInput, match="fewer than the 3 nodes"):
        create_ssh_cluster(hosts, 3, store=StateStore(sb_state_dir))
    with pytest.raises(BadInput, match="share the address 10.0.0.1"):
        create_ssh_cluster(hosts, 2, store=StateStore(sb_state_dir))
    assert not list(sb_state_dir.glob("*.json"))  # nothing recorded: it failed before anything was made


@pytest.mark.timeout(60)
def test_cluster_up_ssh_prints_a_usable_hosts_file_and_cluster_down_removes_it(sb_state_dir, root_iptables_unchanged):
    from splitbrain.harness.hosts.cleanup import cleanup
    from splitbrain.harness.hosts.ssh_host import open_ssh_hosts, teardown_hosts

    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir)}
    cli = [sys.executable, "-m", "splitbrain.harness.commands.main", "cluster"]
    try:
        up = subprocess.run([*cli, "up", "--ssh", "--nodes", "2"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=30)
        assert up.returncode == 0, up.stdout + up.stderr
        fields = dict(line.split(":", 1) for line in up.stdout.splitlines() if line.startswith(("hosts file:",
                                                                                                "known_hosts:")))
        hosts_file, known_hosts = Path(fields["hosts file"].strip()), Path(fields["known_hosts"].strip())
        assert known_hosts.exists()
        hosts = open_ssh_hosts(hosts_file, "upcheck")
        try:
            assert [h.exec(["hostname", "-I"]).stdout.split()[0] for h in hosts.values()] == \
                [h.address for h in hosts.values()]  # each login lands in its own namespace
        finally:
            teardown_hosts(hosts)
        down = subprocess.run([*cli, "down"], cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
        assert down.returncode == 0, down.stdout + down.stderr
        assert not hosts_file.parent.exists()  # keys, configs and the hosts file went with the cluster
        assert not list(sb_state_dir.glob("*.json"))
    finally:
        cleanup(StateStore(sb_state_dir), include_live=True)
