"""Cleanup from state files: after a SIGKILLed controller (after creation and midway through it), twice in a row,
with nothing to clean, and never touching a process that is not provably ours."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from splitbrain.harness.hosts.resources import StateStore, process_is, process_start_time

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parent.parent

CONTROLLER = textwrap.dedent("""
    import os, sys, signal, time
    from splitbrain.harness.hosts import netns
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    from splitbrain.harness.systems import get_system
    die_after = int(sys.argv[1])  # SIGKILL ourselves right after this many 'ip ... add' commands (0: never)
    real_run, count = netns.run, [0]
    def run(argv, **kw):
        res = real_run(argv, **kw)
        count[0] += "add" in argv
        if die_after and count[0] == die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return res
    netns.run = run
    c = create_local_cluster(2)
    c.start_system(get_system("echo"))
    print(c.run_id, flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.1)
""")


def _splitbrain(*args, env, timeout=60):
    return subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def _leftovers(run_id: str, pids: list[int]) -> list[str]:
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    left = [f"netns {line.split()[0]}" for line in ns.splitlines() if line.startswith(f"sb-{run_id}-")]
    left += [f"link sb{run_id}c" for _ in [1] if f" sb{run_id}c@" in links]
    left += [f"pid {p}" for p in pids if process_is(p, None)]
    left += [f"dir /tmp/splitbrain-{run_id}"] if os.path.exists(f"/tmp/splitbrain-{run_id}") else []
    return left


@pytest.fixture
def cli_env(sb_state_dir, root_iptables_unchanged):
    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir), "PYTHONPATH": str(ROOT)}
    yield env
    _splitbrain("cleanup", env=env)  # belt and braces if a test failed midway


@pytest.mark.timeout(90)
def test_cleanup_after_controller_sigkill(cli_env, sb_state_dir):
    proc = subprocess.Popen([sys.executable, "-c", CONTROLLER, "0"], stdout=subprocess.PIPE, text=True, env=cli_env,
                            cwd=ROOT, start_new_session=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, "controller did not bring the cluster up"
        state = StateStore(sb_state_dir).read(run_id)
        pids = [rec["pid"] for rec in state["nodes"].values()]
        assert all(process_is(p, None) for p in pids)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _leftovers(run_id, pids)  # the cluster outlives its controller...
        res = _splitbrain("cleanup", env=cli_env)
        assert res.returncode == 0, res.stderr
        assert "removed" in res.stdout
        assert _leftovers(run_id, pids) == []  # ...until cleanup
        assert StateStore(sb_state_dir).run_ids() == []
        again = _splitbrain("cleanup", env=cli_env)
        assert again.returncode == 0 and "nothing to clean up" in again.stdout
        assert _splitbrain("cleanup", "--run-id", run_id, env=cli_env).returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("die_after", [1, 3, 6])
def test_cleanup_after_sigkill_midway_through_creation(cli_env, sb_state_dir, die_after):
    """Killed right after creating: 1 the switch namespace, 3 the controller veth, 6 the first node's veth."""
    proc = subprocess.run([sys.executable, "-c", CONTROLLER, str(die_after)], capture_output=True, text=True,
                          env=cli_env, cwd=ROOT, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    store = StateStore(sb_state_dir)
    (run_id,) = store.run_ids()
    created = [r for r in store.read(run_id)["resources"] if r["kind"] in ("netns", "link")]
    assert created
    res = _splitbrain("cleanup", env=cli_env)
    assert res.returncode == 0, res.stderr
    assert _leftovers(run_id, []) == [] and store.run_ids() == []


@pytest.mark.timeout(60)
def test_cleanup_skips_runs_of_live_controllers_unless_named(local_cluster, cli_env, sb_state_dir):
    c = local_cluster(1)
    res = _splitbrain("cleanup", env=cli_env)
    assert res.returncode == 0 and "skipped" in res.stdout
    assert StateStore(sb_state_dir).read(c.run_id) is not None
    res = _splitbrain("cleanup", "--run-id", c.run_id, env=cli_env)
    assert res.returncode == 0, res.stderr
    assert _leftovers(c.run_id, []) == []
    c.down()  # idempotent after an external cleanup
    assert _splitbrain("cleanup", "--run-id", "NOT-valid!", env=cli_env).returncode == 254


@pytest.mark.timeout(30)
def test_cleanup_never_signals_a_reused_pid(sb_state_dir):
    """A recorded pid whose start time differs (the pid was reused) must survive cleanup."""
    from splitbrain.harness.hosts.cleanup import cleanup_run
    bystander = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        store = StateStore(sb_state_dir)
        store.create("zz0001", {"run_id": "zz0001", "mode": "local", "resources": [],
                                "nodes": {"n1": {"pid": bystander.pid, "pgid": bystander.pid,
                                                 "start_time": process_start_time(bystander.pid) - 1}}})
        report = cleanup_run(store, "zz0001")
        assert report.killed == [] and not report.problems
        assert bystander.poll() is None
        assert store.read("zz0001") is None
    finally:
        bystander.kill()
        bystander.wait(5)


@pytest.mark.timeout(60)
def test_cli_cluster_up_status_nemesis_down(cli_env, sb_state_dir):
    up = _splitbrain("cluster", "up", "--nodes", "2", env=cli_env)
    assert up.returncode == 0, up.stderr
    store = StateStore(sb_state_dir)
    run_id = store.current()
    assert run_id and run_id in up.stdout
    pids = [r["pid"] for r in store.read(run_id)["nodes"].values()]
    part = _splitbrain("nemesis", "partition", "--shape", "isolate", "--node", "n1", env=cli_env)
    assert part.returncode == 0 and '"n1": ["n2"]' in part.stdout
    assert _splitbrain("nemesis", "pause", "n2", env=cli_env).returncode == 0
    status = _splitbrain("cluster", "status", env=cli_env)
    assert status.returncode == 0 and "paused" in status.stdout and '"node": "n1"' in status.stdout
    heal = json.loads(_splitbrain("nemesis", "heal", env=cli_env).stdout.split(": ", 1)[1])
    assert heal["pause"]["resumed"] == ["n1", "n2"] and heal["partition"]["healed"] == ["n1", "n2"]
    assert _splitbrain("nemesis", "kill", "n7", env=cli_env).returncode == 254
    down = _splitbrain("cluster", "down", env=cli_env)
    assert down.returncode == 0, down.stderr
    assert _leftovers(run_id, pids) == [] and store.current() is None
