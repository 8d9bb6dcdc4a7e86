"""End to end against the leaderless quorum store: real namespaces, real processes, real faults, real verdicts.

Each test is a real run of about 15-25 s. The seeds are fixed so a failure can be replayed; bench/bench_seeds.py
measures over many seeds how often each bug is found.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from splitbrain.history.ops import NEMESIS, read_history
from splitbrain.harness.run.runner import run_test
from splitbrain.harness.run.spec import TestSpec

pytestmark = [pytest.mark.e2e, pytest.mark.netns]



def _spec(**kw):
    base = dict(system="quorum-kv", workload="register", nodes=3, time_limit=12, rate=60, nemesis_interval=3,
                nemesis_duration=2, recovery_time=2, op_timeout=0.5)
    base.update(kw)
    return TestSpec(**base)


@pytest.mark.timeout(120)
def test_correct_is_valid_under_partition_and_kill(tmp_path, isolated_state):
    out = run_test(_spec(variant="correct", nemesis=("partition", "kill"), seed=1), store_root=tmp_path / "store",
                   progress=False)
    results = out.results
    assert results["results"]["linearizable"]["valid"] is True, results["results"]["linearizable"]
    assert results["valid"] is True
    history = read_history(out.run_dir / "history.jsonl")
    client_procs = {op.process for op in history if op.process != NEMESIS}
    assert len(client_procs) >= 6  # every client thread did something
    faults = {op.f for op in history if op.process == NEMESIS}
    assert {"start-partition", "start-kill"} <= faults
    assert "heal-all" in faults
    # no process id is reused after an info
    seen_info = set()
    for op in history:
        if op.process == NEMESIS:
            continue
        assert op.process not in seen_info
        if op.type == "info":
            seen_info.add(op.process)
    assert (out.run_dir / "test.json").exists() and (out.run_dir / "results.json").exists()
    assert any((out.run_dir / "nodes").iterdir())


@pytest.mark.timeout(120)
def test_r1w1_is_invalid_under_partition(tmp_path, isolated_state):
    out = run_test(_spec(variant="r1w1", nemesis=("partition",), seed=1), store_root=tmp_path / "store",
                   progress=False)
    lin = out.results["results"]["linearizable"]
    assert lin["valid"] is False, lin
    assert lin["failure"]["explanation"]


@pytest.mark.timeout(120)
def test_lww_wallclock_is_invalid_under_clock_faults(tmp_path, isolated_state):
    out = run_test(_spec(variant="lww-wallclock", nemesis=("clock",), seed=1), store_root=tmp_path / "store",
                   progress=False)
    assert out.results["results"]["linearizable"]["valid"] is False, out.results["results"]["linearizable"]


@pytest.mark.timeout(120)
def test_sigkill_of_the_controller_keeps_history_and_cleanup_removes_everything(tmp_path, isolated_state):
    store = tmp_path / "store"
    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(isolated_state)}
    cmd = [sys.executable, "-m", "splitbrain.harness.commands.main", "run", "--system", "quorum-kv", "--workload", "register",
           "--nodes", "3", "--nemesis", "partition", "--time-limit", "60", "--rate", "50", "--seed", "3",
           "--store", str(store), "--test-name", "killed", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        history = store / "killed" / "latest" / "history.jsonl"
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if history.exists() and history.stat().st_size > 20_000:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ops = read_history(history)  # complete up to the last flushed op, torn tail dropped
    assert len(ops) > 50
    run_dir = history.parent.resolve()
    analyzed = subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", "analyze", str(run_dir), "--no-report"],
                              env=env, capture_output=True, text=True, timeout=60)
    assert analyzed.returncode in (0, 1, 2), analyzed.stderr
    assert "verdict:" in analyzed.stdout
    assert json.loads((run_dir / "results.json").read_text())["valid"] in (True, False, "unknown")

    # The killed controller left its cluster: cleanup removes it, and a second cleanup finds nothing.
    run_id = json.loads((run_dir / "cluster.json").read_text())["run_id"]

    def leftovers():
        ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        return [line for line in (ns + links).splitlines() if f"sb-{run_id}" in line or run_id in line]

    assert leftovers(), "the killed run should have left its namespaces behind"
    for _ in range(2):
        c = subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", "cleanup"], env=env, capture_output=True,
                           text=True, timeout=60)
        assert c.returncode == 0, c.stderr
    assert leftovers() == []
    assert not os.path.exists(f"/tmp/splitbrain-{run_id}")
