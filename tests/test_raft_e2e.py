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


@pytest.mark.timeout(90)
@pytest.mark.parametrize("variant", ["correct", "stale-read"])
def test_a_cut_off_leader_serves_stale_reads_only_in_stale_read(isolated_state, variant):
    """Isolate the leader with iptables (namespaces), write through the new leader, then read at the old one:
    ``stale-read`` answers the old value from local state; ``correct`` must not (ReadIndex cannot reach a
    majority, so the read fails or is forwarded, never stale)."""
    import asyncio
    import time

    from harness.api import Invocation
    from harness.cluster import create_local_cluster
    from harness.systems.raft_kv import RaftKV
    from nemesis import apply as apply_fault

    system = RaftKV()
    with create_local_cluster(3) as cluster:
        addrs = {a.name: a for a in cluster.start_system(system, variant, {})}

        async def scenario():
            deadline = time.monotonic() + 15
            old, term = None, None
            while old is None and time.monotonic() < deadline:
                old, term = await system.leader(list(addrs.values()), 0.5)
                await asyncio.sleep(0.05)
            assert old is not None
            writer = system.client(variant, {"workload": "register"})
            await writer.open(addrs[old])
            assert (await writer.invoke(Invocation("write", 1), 3.0)).type == "ok"
            others = [n for n in addrs if n != old]
            grudge = {old: others, **{n: [old] for n in others}}
            apply_fault(cluster, Invocation("start-partition", {"shape": "isolate", "grudge": grudge}))
            new = None
            while new in (None, old) and time.monotonic() < deadline:
                new, _ = await system.leader([addrs[n] for n in others], 0.5)
                await asyncio.sleep(0.05)
            assert new not in (None, old)
            w2 = system.client(variant, {"workload": "register"})
            await w2.open(addrs[new])
            assert (await w2.invoke(Invocation("write", 2), 3.0)).type == "ok"
            reader = system.client(variant, {"workload": "register"})
            await reader.open(addrs[old])
            done = await reader.invoke(Invocation("read"), 1.0)
            for c in (writer, w2, reader):
                await c.close()
            return done

        try:
            done = asyncio.run(scenario())
        finally:
            apply_fault(cluster, Invocation("stop-partition", None))
    if variant == "stale-read":
        assert (done.type, done.value) == ("ok", 1)   # the acknowledged write of 2 is missing: stale
    else:
        assert done.type != "ok" or done.value == 2, done
