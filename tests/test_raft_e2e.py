"""raft-kv end to end through the runner: real namespaces, real processes, a partition nemesis, a real verdict."""

import pytest

from splitbrain.history.ops import NEMESIS, read_history
from splitbrain.harness.run.runner import run_test
from splitbrain.harness.run.spec import TestSpec
from tests._e2e import first_run_that_finds

pytestmark = [pytest.mark.e2e, pytest.mark.netns]



def _spec(**kw) -> TestSpec:
    base = dict(system="raft-kv", workload="register", nodes=3, time_limit=12, rate=60, nemesis_interval=3,
                nemesis_duration=2, recovery_time=2, op_timeout=1.0, seed=1)
    base.update(kw)
    return TestSpec(**base)


def _statuses(run_dir) -> dict:
    """Every node's status with a digest of its applied state (nodes of a run left running)."""
    import asyncio
    import json

    from splitbrain.harness.api import NodeAddress
    from splitbrain.harness.jsonline_client import JsonLineConnection

    addrs = []
    for cfg_path in sorted((run_dir / "nodes").glob("n*/node.json")):
        cfg = json.loads(cfg_path.read_text())
        addrs.append(NodeAddress(cfg["node"], cfg["listen"][0], int(cfg["listen"][1])))

    async def one(a):
        conn = JsonLineConnection(a, connect_timeout=1.0)
        try:
            return await conn.request({"type": "status", "digest": True}, 2.0)
        except Exception as e:  # reported, so a failing assert shows which node did not answer
            return {"error": repr(e)}
        finally:
            await conn.close()

    async def all_():
        return dict(zip([a.name for a in addrs], await asyncio.gather(*(one(a) for a in addrs))))
    return asyncio.run(all_())


@pytest.mark.timeout(150)
def test_correct_raft_survives_partitions_kills_pauses_and_a_restarted_node_catches_up(tmp_path, isolated_state):
    """3 nodes, register, partition + kill + pause: linearizable, one leader per term, the cluster served through
    the faults, and afterwards every node (killed ones restarted) holds the same applied state."""
    import time

    out = run_test(_spec(variant="correct", nemesis=("partition", "kill", "pause"), time_limit=15),
                   store_root=tmp_path / "store", progress=False, keep_cluster=True)
    results = out.results["results"]
    assert results["linearizable"]["valid"] is True, results["linearizable"]
    assert results["election"]["valid"] is True, results["election"]
    history = read_history(out.run_dir / "history.jsonl")
    faults = [op for op in history if op.process == NEMESIS and op.type == "ok"]
    assert {"start-partition", "start-kill", "start-pause"} <= {op.f for op in faults}
    killed = {n for op in faults if op.f == "start-kill" for n in (op.value or {}).get("killed", [])}
    assert killed, "the kill fault hit no node"
    oks = [op for op in history if op.process != NEMESIS and op.type == "ok"]
    assert {op.f for op in oks} >= {"read", "write"}
    # A killed node came back and caught up: all nodes converge on one applied state (bounded wait).
    deadline = time.monotonic() + 10
    while True:
        st = _statuses(out.run_dir)
        digests = {n: s.get("digest") for n, s in st.items()}
        applied = {n: s.get("last_applied") for n, s in st.items()}
        if len(set(digests.values())) == 1 and None not in digests.values() and len(set(applied.values())) == 1:
            break
        assert time.monotonic() < deadline, st
        time.sleep(0.2)
    assert len(st) == 3 and all(s.get("safety_violations") == 0 for s in st.values()), st


@pytest.mark.timeout(150)
def test_correct_raft_on_five_nodes_kv_under_partitions_and_kills(tmp_path, isolated_state):
    out = run_test(_spec(variant="correct", workload="kv", nodes=5, nemesis=("partition", "kill"), rate=80),
                   store_root=tmp_path / "store", progress=False)
    results = out.results["results"]
    assert results["linearizable"]["valid"] is True, results["linearizable"]
    assert out.results["valid"] is True, out.results
    history = read_history(out.run_dir / "history.jsonl")
    assert len({op.key for op in history if op.process != NEMESIS and op.type == "ok"}) > 1  # several keys


@pytest.mark.timeout(240)
def test_stale_read_is_found_with_a_partition_that_isolates_the_leader(tmp_path, isolated_state):
    # 8 of 10 seeds find it in the bench: up to four seeds here, so timing luck can't fail the suite
    out, tried = first_run_that_finds(
        tmp_path, lambda seed: _spec(variant="stale-read", nemesis=("partition",), seed=seed), (1, 2, 3, 4),
        lambda o: o.results["results"]["linearizable"]["valid"] is False)
    lin = out.results["results"]["linearizable"]
    assert lin["valid"] is False, (tried, lin)
    history = read_history(out.run_dir / "history.jsonl")
    assert any(op.f == "start-partition" and (op.value or {}).get("shape") == "isolate-leader"
               for op in history if op.process == NEMESIS)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("variant", ["no-dedup", "correct"])
def test_no_dedup_applies_retried_adds_twice_under_packet_loss(tmp_path, isolated_state, variant):
    """Packet loss delays an add past the client's attempt timeout without losing it (TCP retransmits it), so the
    client retries elsewhere with the same id and number: no-dedup applies it twice and a read exceeds every add;
    correct applies it once."""
    # 10 of 10 seeds find it under loss (partitions: 6 of 10 since peer links reconnect at once); timing, not only
    # the seed, decides whether a retry's first attempt commits late, so up to three seeds
    def spec(seed):
        return _spec(variant=variant, workload="counter", nemesis=("loss",), seed=seed)
    seeds = (1,) if variant == "correct" else (1, 2, 3)
    out, tried = first_run_that_finds(tmp_path, spec, seeds, lambda o: o.results["valid"] is False)
    history = read_history(out.run_dir / "history.jsonl")
    assert any(op.f == "start-loss" for op in history if op.process == NEMESIS and op.type == "ok")
    counter = out.results["results"]["counter"]
    if variant == "correct":
        assert out.results["valid"] is True, out.results["results"]
    else:
        assert counter["valid"] is False, (tried, counter)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("variant", ["correct", "stale-read"])
def test_a_cut_off_leader_serves_stale_reads_only_in_stale_read(isolated_state, variant):
    """Isolate the leader with iptables (namespaces), write through the new leader, then read at the old one:
    ``stale-read`` answers the old value from local state; ``correct`` must not (ReadIndex cannot reach a
    majority, so the read fails or is forwarded, never stale)."""
    import asyncio
    import time

    from splitbrain.harness.api import Invocation
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    from splitbrain.harness.systems.raft_kv import RaftKV
    from splitbrain.nemesis import apply as apply_fault

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
