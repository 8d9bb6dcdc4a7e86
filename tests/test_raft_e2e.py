"""raft-kv end to end through the runner: real namespaces, real processes, a partition nemesis, a real verdict."""

import pytest

from harness.history import NEMESIS, read_history
from harness.runner import run_test
from harness.spec import TestSpec

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


@pytest.fixture
def isolated_state(tmp_path, monkeypatch):
    """A private state dir, so cleanup here can't touch anyone else's clusters; cleaned at the end."""
    state = tmp_path / "state"
    monkeypatch.setenv("SPLITBRAIN_STATE_DIR", str(state))
    yield state
    from harness.cleanup import cleanup
    from harness.state import StateStore
    cleanup(StateStore(str(state)))


@pytest.mark.timeout(120)
def test_correct_raft_is_linearizable_under_partitions(tmp_path, isolated_state):
    spec = TestSpec(system="raft-kv", workload="register", variant="correct", nodes=3, time_limit=12, rate=60,
                    nemesis=("partition",), nemesis_interval=3, nemesis_duration=2, recovery_time=2,
                    op_timeout=1.0, seed=1)
    out = run_test(spec, store_root=tmp_path / "store", progress=False)
    lin = out.results["results"]["linearizable"]
    assert lin["valid"] is True, lin
    history = read_history(out.run_dir / "history.jsonl")
    assert "start-partition" in {op.f for op in history if op.process == NEMESIS}
    oks = [op for op in history if op.process != NEMESIS and op.type == "ok"]
    assert {op.f for op in oks} >= {"read", "write"}  # the cluster did serve through the faults
