"""Exact replay: the spec comes back from test.json, the faults from the history, and a replayed run hits the same
nodes with the same faults at about the same times."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.history.errors import BadInput
from splitbrain.history.ops import NEMESIS, Op, read_history, write_history
from splitbrain.harness.ci.replay import replay_inputs
from splitbrain.harness.run.runner import run_test
from splitbrain.harness.run.spec import TestSpec

SPLITBRAIN = str(Path(sys.executable).with_name("splitbrain"))


def _fake_run(tmp_path: Path, spec: TestSpec) -> Path:
    run = tmp_path / "store" / spec.name / "20260101T000000"
    (run / "nodes").mkdir(parents=True)
    # test.json as the runner writes it: nodes is the list of names, the count is node_count
    (run / "test.json").write_text(json.dumps({"name": spec.name, **spec.to_dict(), "nodes": ["n1", "n2", "n3", "n4",
                                               "n5"], "node_count": 5, "command": spec.command()}))
    ops = [
        Op(0, 10, 0, "invoke", "write", 1), Op(1, 20, NEMESIS, "invoke", "start-kill", {"nodes": ["n2"]}),
        Op(2, 30, NEMESIS, "ok", "start-kill", {"killed": ["n2"]}), Op(3, 40, 0, "ok", "write", 1),
        Op(4, 2_000_000_000, NEMESIS, "invoke", "stop-kill", {"nodes": ["n2"]}),
        Op(5, 2_000_000_100, NEMESIS, "ok", "stop-kill", {}),
        Op(6, 3_000_000_000, NEMESIS, "invoke", "heal-all", None),
        Op(7, 3_000_000_100, NEMESIS, "ok", "heal-all", {}),
    ]
    write_history(run / "history.jsonl", ops)
    return run


def test_replay_inputs_from_a_stored_run(tmp_path):
    spec = TestSpec(system="quorum-kv", workload="register", variant="r1w1", nodes=5, nemesis=("kill",), seed=77,
                    time_limit=9, options={"value_range": 3})
    again, schedule = replay_inputs(_fake_run(tmp_path, spec))
    assert again == dataclasses.replace(spec, concurrency=10)  # test.json stores the resolved thread count
    assert schedule == [{"time": 20, "f": "start-kill", "value": {"nodes": ["n2"]}},
                        {"time": 2_000_000_000, "f": "stop-kill", "value": {"nodes": ["n2"]}}]


def test_replay_of_a_non_run_is_bad_input(tmp_path):
    with pytest.raises(BadInput):
        replay_inputs(tmp_path)
    write_history(tmp_path / "history.jsonl", [])
    with pytest.raises(BadInput) as e:
        replay_inputs(tmp_path)
    assert "test.json" in str(e.value)


def _faults(run_dir: Path) -> list[tuple]:
    return [(op.time, op.f, json.dumps(op.value, sort_keys=True)) for op in read_history(run_dir / "history.jsonl")
            if op.process == NEMESIS and op.type == "invoke"]


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(150)
def test_replayed_run_has_the_same_faults(tmp_path, sb_state_dir):
    spec = TestSpec(system="quorum-kv", workload="register", nemesis=("partition", "kill"), time_limit=7, rate=50,
                    nemesis_interval=2, nemesis_duration=1.5, recovery_time=1, op_timeout=0.5, seed=4242)
    try:
        original = run_test(spec, store_root=tmp_path / "store", progress=False).run_dir
        p = subprocess.run([SPLITBRAIN, "replay", str(original), "--quiet"], capture_output=True, text=True,
                           timeout=100, env={**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir)})
    finally:
        from splitbrain.harness.hosts.cleanup import cleanup
        from splitbrain.harness.hosts.resources import StateStore
        cleanup(StateStore(str(sb_state_dir)))
    assert p.returncode in (0, 1, 2), p.stdout + p.stderr
    replayed = Path(next(line.split(None, 1)[1] for line in p.stdout.splitlines() if line.startswith("run:")))
    assert replayed != original and replayed.parent == original.parent
    assert json.loads((replayed / "replay-of.json").read_text())["original"] == str(original)
    a, b = _faults(original), _faults(replayed)
    assert len(a) >= 4 and len(a) == len(b)
    for (ta, fa, va), (tb, fb, vb) in zip(a, b):
        assert (fa, va) == (fb, vb)  # same fault, same plan: the same nodes
        if fa != "heal-all":  # heal-all ends the test after the in-flight ops drain: not scheduled
            assert abs(ta - tb) < 0.5e9, (fa, ta, tb)
    assert any(f == "start-kill" for _, f, _ in a) and any(f == "start-partition" for _, f, _ in a)
    assert json.loads((replayed / "test.json").read_text())["seed"] == 4242
