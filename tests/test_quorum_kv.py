"""The leaderless quorum KV store: pure parts (version order, merges, storage recovery, config) without processes,
then real 3-replica clusters on 127.0.0.1 (one port each, no namespaces) for the behaviours each variant promises
or breaks. Every cluster is killed by pid and its temp dir removed by the fixture, also when a test fails."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time

import pytest
from hypothesis import given, settings, strategies as st

from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.harness.api import Invocation, NodeAddress
from splitbrain.history.ops import Op
from splitbrain.harness.systems import get_system
from splitbrain.harness.systems.quorum_kv import QuorumKV, QuorumKVClient
from splitbrain.systems_under_test.quorum_kv import records
from splitbrain.systems_under_test.quorum_kv.launch import LocalCluster
from splitbrain.systems_under_test.quorum_kv.server import ConfigError, load_config
from splitbrain.systems_under_test.quorum_kv.storage import WAL, StorageError, Store

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


# ================================================================================================ pure parts


def reg(c, n, x):
    return {"v": [c, n], "x": x}


def test_register_order_is_counter_then_node_then_value():
    assert records.covers_register(reg(2, "n1", "a"), reg(1, "n3", "z"))
    assert records.merge_register(reg(1, "n1", "a"), reg(1, "n2", "b")) == reg(1, "n2", "b")
    # the crash-restart tie (same version, different values) resolves the same way on every replica
    assert records.merge_register(reg(3, "n1", "a"), reg(3, "n1", "b")) == records.merge_register(
        reg(3, "n1", "b"), reg(3, "n1", "a")) == reg(3, "n1", "b")
    assert records.merge_register(None, reg(1, "n1", 0)) == reg(1, "n1", 0)
    assert records.version_of(None) == records.ZERO_VERSION < (1, "")


def test_next_version_and_wallclock_version():
    assert records.next_version((4, "n3"), "n1") == (5, "n1")
    assert records.next_version(records.ZERO_VERSION, "n2") == (1, "n2")
    assert records.wallclock_version(1000, 0, "n1") == (1000, "n1")
    # a coordinator's own versions never repeat, even if its clock stalls or steps back
    assert records.wallclock_version(1000, 1000, "n1") == (1001, "n1")
    assert records.wallclock_version(5, 1000, "n1") == (1001, "n1")


def test_counter_increment_value_and_negative_deltas():
    own, rec = records.counter_increment((0, 0), "n1", 5)
    assert own == (5, 0) and rec == {"p": {"n1": 5}, "n": {}}
    own, rec = records.counter_increment(own, "n1", -2)
    assert own == (5, 2)
    merged = records.merge_counter(rec, {"p": {"n2": 4}, "n": {}})
    assert records.counter_value(merged) == 5 - 2 + 4
    assert records.own_entry(merged, "n1") == (5, 2) and records.own_entry(None, "n1") == (0, 0)


def test_validate_rejects_bad_shapes():
    for kind, rec in [("reg", {"v": [1]}), ("reg", {"v": [-1, "n1"]}), ("reg", {"v": [True, "n1"]}),
                      ("set", {"e": [True]}), ("set", {"e": [[1]]}), ("set", {}),
                      ("ctr", {"p": {"n1": -1}, "n": {}}), ("ctr", {"p": {}}), ("nope", {})]:
        with pytest.raises(records.BadRecord):
            records.validate(kind, rec)
    assert records.validate("set", {"e": ["b", 2, "a", 1, 2]}) == {"e": [1, 2, "a", "b"]}
    with pytest.raises(records.BadRecord):
        records.check_delta(1.5)


_node = st.sampled_from(["n1", "n2", "n3"])
_regs = st.one_of(st.none(), st.builds(reg, st.integers(0, 4), _node, st.integers(0, 3)))
_sets = st.one_of(st.none(), st.builds(lambda e: {"e": records.sorted_elements(e)},
                                       st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b"])))))
_entries = st.dictionaries(_node, st.integers(0, 9))
# records reach a merge only through validate (wire, disk) or counter_increment, both canonical
_ctrs = st.one_of(st.none(), st.builds(lambda p, n: records.validate("ctr", {"p": p, "n": n}), _entries, _entries))


@pytest.mark.parametrize("kind,strategy", [("reg", _regs), ("set", _sets), ("ctr", _ctrs)])
def test_merges_are_a_semilattice(kind, strategy):
    """Commutative, associative, idempotent, and the merge covers both sides: what makes replay, compaction and
    read repair order-insensitive."""
    @settings(max_examples=150, deadline=None)
    @given(strategy, strategy, strategy)
    def check(a, b, c):
        m = lambda x, y: records.merge(kind, x, y)  # noqa: E731
        assert m(a, b) == m(b, a)
        assert m(m(a, b), c) == m(a, m(b, c))
        assert m(a, a) == a
        assert records.covers(kind, m(a, b), a) and records.covers(kind, m(a, b), b)
        # "a covers b" means exactly: merging b into a adds nothing a doesn't already have
        assert records.covers(kind, a, b) == records.covers(kind, a, m(a, b))
    check()


def _run(coro):
    return asyncio.run(coro)


def test_store_recovers_and_drops_only_a_torn_last_line(tmp_path):
    async def write():
        s = Store(str(tmp_path))
        await asyncio.gather(s.put("reg", "k", reg(1, "n1", "a")), s.put("set", 7, {"e": [1]}),
                             s.put("set", 7, {"e": [2]}))
        s.close()
    _run(write())
    with open(tmp_path / WAL, "ab") as f:
        f.write(b'{"t":"reg","k":"k","r":{"v":[9,"n1"],')  # a crash mid-append: never acknowledged
    s = Store(str(tmp_path))
    assert s.get("reg", "k") == reg(1, "n1", "a") and s.get("set", 7) == {"e": [1, 2]} and len(s) == 2
    s.close()
    assert (tmp_path / WAL).read_bytes().endswith(b"}\n")  # the torn tail was cut off, so appends stay parseable

    lines = (tmp_path / WAL).read_bytes().split(b"\n")
    (tmp_path / WAL).write_bytes(b"\n".join([lines[0], b"garbage", *lines[1:]]))
    with pytest.raises(StorageError, match="corrupt"):
        Store(str(tmp_path))


def test_store_compaction_keeps_everything(tmp_path):
    async def write():
        s = Store(str(tmp_path), compact_after=5)
        for i in range(12):
            await s.put("ctr", "c", {"p": {"n1": i + 1}, "n": {}})
            await s.put("set", "s", {"e": [i]})
        s.close()
    _run(write())
    assert os.path.exists(tmp_path / "snapshot.json")
    assert len((tmp_path / WAL).read_bytes().splitlines()) < 5
    s = Store(str(tmp_path))
    assert records.counter_value(s.get("ctr", "c")) == 12 and s.get("set", "s") == {"e": list(range(12))}
    s.close()


def test_load_config(tmp_path):
    def cfg(**kw):
        p = tmp_path / "c.json"
        p.write_text(json.dumps({"node": "n1", "nodes": {"n1": ["127.0.0.1", 1], "n2": ["127.0.0.1", 2],
                                                         "n3": ["127.0.0.1", 3]}, **kw}))
        return load_config(str(p))
    c = cfg()
    assert (c["variant"], c["r"], c["w"], c["listen"]) == ("correct", 2, 2, ["127.0.0.1", 1])
    assert (cfg(variant="r1w1")["r"], cfg(variant="r1w1")["w"]) == (1, 1)
    assert cfg(r=1, w=3)["w"] == 3
    for bad in ({"r": 4}, {"variant": "r1w1", "w": 2}, {"variant": "nope"}, {"timeout": 0}):
        with pytest.raises(ConfigError):
            cfg(**bad)


def test_adapter_contract():
    sys_ = get_system("quorum-kv")
    assert isinstance(sys_, QuorumKV) and set(sys_.variants) == {"correct", "no-read-repair", "r1w1",
                                                                 "lww-wallclock", "no-fsync", "retry-as-new"}
    assert sys_.variants["correct"] == "" and all(sys_.variants[v] for v in sys_.variants if v != "correct")
    assert sys_.node_command("py", "/c.json") == ["py", "-m", "splitbrain.systems_under_test.quorum_kv.server",
                                                 "--config", "/c.json"]
    assert sys_.node_config_extra("correct", {"r": 1, "w": 3, "coordinator_timeout": 0.5, "x": 1}) == \
        {"r": 1, "w": 3, "timeout": 0.5}
    assert sys_.node_config_extra("r1w1", {"op_timeout": 2.0}) == {"timeout": 1.5}  # answers before the client
    assert sys_.workload_options("register") == {"cas": False} and sys_.workload_options("kv") == {}
    reg_c, kv_c = QuorumKVClient("register"), QuorumKVClient("kv")
    assert reg_c.to_request(Invocation("write", 3)) == {"type": "write", "key": "register", "value": 3}
    assert kv_c.to_request(Invocation("read", key=4)) == {"type": "read", "key": 4}
    assert QuorumKVClient("set").to_request(Invocation("add", 9)) == {"type": "set-add", "key": "set", "value": 9}
    assert QuorumKVClient("counter").to_request(Invocation("read"))["type"] == "counter-read"

    # cas never reaches the wire (no connection was even opened) and is a definite fail
    done = _run(reg_c.invoke(Invocation("cas", [1, 2]), 1.0))
    assert done.type == "fail" and done.error.startswith("unsupported")


# ================================================================================================ real clusters


@pytest.fixture
def clusters():
    """A factory of LocalClusters; every one is killed (by pid) and its temp dir removed at teardown."""
    made: list[LocalCluster] = []

    def make(variant="correct", **extra) -> LocalCluster:
        # a generous coordinator timeout: these tests are about semantics, and a loaded 2-core CI box can stall
        # an fsync or a connect for a second
        c = LocalCluster(variant, 3, {"timeout": 5.0, **extra})
        made.append(c)
        c.start_all()
        return c
    try:
        yield make
    finally:
        for c in made:
            base = c.base
            c.close()
            assert not os.path.exists(base)


def rq(c: LocalCluster, node: str, type_: str, key=None, value=None, **kw) -> dict:
    msg = {"type": type_, **kw}
    if key is not None:
        msg["key"] = key
    if value is not None:
        msg["value"] = value
    return c.request(node, msg)


def ok(c, node, type_, key=None, value=None):
    reply = rq(c, node, type_, key, value)
    assert reply["ok"], (node, type_, reply)
    return reply.get("value")


def local_record(c, node, kind, key):
    """The replica's own durable record, asked with the replica protocol (no coordination)."""
    reply = rq(c, node, "peer-get", key, kind=kind)
    assert reply["ok"]
    return reply["value"]


def wait_for(pred, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.timeout(30)
def test_write_then_read_on_another_node_through_the_adapter(clusters):
    c = clusters()

    async def go():
        sys_ = QuorumKV()
        w, r = sys_.client("correct", {"workload": "kv"}), sys_.client("correct", {"workload": "kv"})
        await w.open(NodeAddress("n1", *c.addrs["n1"]))
        await r.open(NodeAddress("n2", *c.addrs["n2"]))
        try:
            before = await r.invoke(Invocation("read", key=1), 2.0)
            wrote = await w.invoke(Invocation("write", "x<&>", key=1), 2.0)
            after = await r.invoke(Invocation("read", key=1), 2.0)
            other_key = await r.invoke(Invocation("read", key=2), 2.0)
        finally:
            await w.close()
            await r.close()
        return before, wrote, after, other_key
    before, wrote, after, other_key = _run(go())
    assert (before.type, before.value) == ("ok", None)
    assert (wrote.type, wrote.value) == ("ok", "x<&>")
    assert (after.type, after.value) == ("ok", "x<&>")
    assert (other_key.type, other_key.value) == ("ok", None)
    st = rq(c, "n2", "status")
    assert (st["node"], st["variant"], st["keys"]) == ("n2", "correct", 1)


@pytest.mark.timeout(40)
def test_acknowledged_data_survives_sigkill_of_every_replica(clusters):
    c = clusters()
    ok(c, "n1", "write", "k", "v1")
    ok(c, "n2", "write", "k", "v2")
    ok(c, "n3", "set-add", "s", 1)
    ok(c, "n1", "set-add", "s", 2)
    ok(c, "n2", "counter-add", "c", 4)
    ok(c, "n3", "counter-add", "c", -1)
    for n in c.names:
        c.kill(n)
    c.start_all()
    for n in c.names:
        assert ok(c, n, "read", "k") == "v2"
        assert ok(c, n, "set-read", "s") == [1, 2]
        assert ok(c, n, "counter-read", "c") == 3
    # a restarted counter coordinator continues from its own persisted total instead of restarting at 0
    ok(c, "n2", "counter-add", "c", 1)
    assert ok(c, "n1", "counter-read", "c") == 4


@pytest.mark.timeout(30)
def test_correct_serves_with_one_replica_dead_and_refuses_definitely_with_two(clusters):
    c = clusters()
    ok(c, "n1", "write", "k", 1)
    c.kill("n3")
    ok(c, "n1", "write", "k", 2)
    assert ok(c, "n2", "read", "k") == 2
    ok(c, "n2", "set-add", "s", 5)
    assert ok(c, "n1", "set-read", "s") == [5]
    c.kill("n2")
    for type_, value in (("write", 3), ("read", None), ("set-add", 6), ("counter-add", 1)):
        reply = rq(c, "n1", type_, "k" if type_ in ("write", "read") else "s2", value)
        assert (reply["ok"], reply["error"]) == (False, "unavailable"), reply
    c.start("n2")
    # n1 retries a peer that refused it only after a short backoff
    assert wait_for(lambda: rq(c, "n1", "read", "k")["ok"], timeout=2.0)
    assert ok(c, "n1", "read", "k") == 2  # the refused write of 3 really did not happen


@pytest.mark.timeout(30)
def test_quorum_timeout_after_sending_is_indefinite(clusters):
    """W = 3 with a paused replica: the store was sent, the quorum never came: quorum-timeout, not unavailable."""
    c = clusters("correct", r=1, w=3, timeout=0.3)
    c.pause("n3")
    try:
        t0 = time.monotonic()
        reply = rq(c, "n1", "write", "k", 1)
        assert (reply["ok"], reply["error"]) == (False, "quorum-timeout"), reply
        assert time.monotonic() - t0 < 3.0  # the coordinator answers near its own timeout
    finally:
        c.resume("n3")
    # it may have taken effect (it did, on the replicas that got it): that is why it is indefinite
    assert wait_for(lambda: local_record(c, "n3", "reg", "k") is not None)


def _miss_a_write(c: LocalCluster) -> None:
    """k = old everywhere; then n3 is down while k = new is written (acknowledged), and comes back without it."""
    ok(c, "n1", "write", "k", "old")
    assert wait_for(lambda: (local_record(c, "n3", "reg", "k") or {}).get("x") == "old")
    c.kill("n3")
    ok(c, "n1", "write", "k", "new")
    c.start("n3")
    assert local_record(c, "n3", "reg", "k")["x"] == "old"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant,expected", [("r1w1", "old"), ("correct", "new")])
def test_r1w1_reads_stale_where_correct_does_not(clusters, variant, expected):
    c = clusters(variant)
    _miss_a_write(c)
    assert ok(c, "n3", "read", "k") == expected


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["no-read-repair", "correct"])
def test_read_write_back_happens_only_where_promised(clusters, variant):
    c = clusters(variant)
    _miss_a_write(c)
    # both see the new value (R = 2 meets the write quorum) ...
    assert ok(c, "n3", "read", "k") == "new"
    assert ok(c, "n3", "read", "k") == "new"
    # ... but only the correct variant leaves it on the stale replica it read from
    if variant == "correct":
        assert wait_for(lambda: local_record(c, "n3", "reg", "k")["x"] == "new")
        assert rq(c, "n3", "status")["stats"]["write-backs"] >= 1
    else:
        time.sleep(0.3)  # a write-back would have landed within milliseconds
        assert local_record(c, "n3", "reg", "k")["x"] == "old"
        assert "write-backs" not in rq(c, "n3", "status")["stats"]


@pytest.mark.timeout(30)
def test_set_and_counter_merge_across_replicas(clusters):
    c = clusters()
    ok(c, "n1", "set-add", "s", 1)
    ok(c, "n2", "counter-add", "c", 10)
    c.kill("n3")
    ok(c, "n1", "set-add", "s", "a")
    ok(c, "n2", "set-add", "s", 2)
    ok(c, "n1", "counter-add", "c", -3)
    ok(c, "n2", "counter-add", "c", 5)
    c.start("n3")
    ok(c, "n3", "set-add", "s", 0)
    ok(c, "n3", "counter-add", "c", 1)
    # n3 holds only part of each; a read through it merges (union / per-entry max) and repairs it
    assert set(local_record(c, "n3", "set", "s")["e"]) == {0, 1}
    assert ok(c, "n3", "set-read", "s") == [0, 1, 2, "a"]
    assert ok(c, "n3", "counter-read", "c") == 13
    assert wait_for(lambda: local_record(c, "n3", "set", "s") == {"e": [0, 1, 2, "a"]})
    assert wait_for(lambda: records.counter_value(local_record(c, "n3", "ctr", "c")) == 13)
    for n in c.names:
        assert ok(c, n, "set-read", "s") == [0, 1, 2, "a"] and ok(c, n, "counter-read", "c") == 13
    assert rq(c, "n1", "set-add", "s", True)["error"] == "bad-request"
    assert rq(c, "n1", "cas", "k", [1, 2])["error"] == "unsupported"
    # nodes stay single-threaded: under libfaketime, handing fsync results back from a thread stalled requests
    for n in c.names:
        assert len(os.listdir(f"/proc/{c.procs[n].pid}/task")) == 1, f"{n} started a thread"


@pytest.mark.timeout(30)
@pytest.mark.skipif(not os.path.exists(LIBFAKETIME) or shutil.which("faketime") is None,
                    reason="needs libfaketime")
@pytest.mark.parametrize("variant,expected", [("lww-wallclock", "first"), ("correct", "second")])
def test_lww_wallclock_loses_a_later_write_from_a_slow_clock(clusters, variant, expected):
    c = clusters(variant)
    c.kill("n1")  # n1 comes back with its clock an hour behind
    c.start("n1", env={"LD_PRELOAD": LIBFAKETIME, "FAKETIME": "-1h", "DONT_FAKE_MONOTONIC": "1"})
    ok(c, "n2", "write", "k", "first")
    ok(c, "n1", "write", "k", "second")  # acknowledged, strictly after "first" completed
    assert ok(c, "n3", "read", "k") == expected


@pytest.mark.timeout(60)
def test_correct_is_linearizable_under_kills_and_pauses(clusters):
    """A short concurrent register run with replicas SIGKILLed/restarted and SIGSTOPped, checked by the project's
    linearizability checker. (The seeded variants fail this often but not on every seed, so only the correct one
    is asserted here; the deterministic tests above pin their bugs.)"""
    c = clusters("correct", timeout=1.0)
    ops: list[Op] = []
    t0 = time.monotonic_ns()

    def record(p, type_, f, value, node, error=None):
        ops.append(Op(len(ops), time.monotonic_ns() - t0, p, type_, f, value, node, None, error))

    async def go(seconds=3.0, workers=5):
        end = time.monotonic() + seconds
        next_process = [workers]
        loop = asyncio.get_running_loop()

        async def worker(i):
            rng, p = random.Random(i), i
            while time.monotonic() < end:
                name = rng.choice(c.names)
                client = QuorumKV().client("correct", {"workload": "register"})
                await client.open(NodeAddress(name, *c.addrs[name]))
                try:
                    for _ in range(rng.randint(1, 20)):
                        if time.monotonic() >= end:
                            break
                        op = (Invocation("read", key="r") if rng.random() < 0.5
                              else Invocation("write", rng.randrange(5), key="r"))
                        record(p, "invoke", op.f, op.value, name)
                        done = await client.invoke(op, 3.0)
                        value = done.value if done.type == "ok" else (op.value if op.f == "write" else None)
                        record(p, done.type, op.f, value, name, done.error)
                        if done.type == "info":
                            p, next_process[0] = next_process[0], next_process[0] + 1
                finally:
                    await client.close()

        async def nemesis():
            rng = random.Random(7)
            while time.monotonic() < end - 0.5:
                await asyncio.sleep(0.25)
                victim = rng.choice(c.names)
                if rng.random() < 0.5:
                    c.pause(victim)
                    await asyncio.sleep(0.3)
                    c.resume(victim)
                else:
                    c.kill(victim)
                    await loop.run_in_executor(None, c.start, victim)

        await asyncio.gather(nemesis(), *(worker(i) for i in range(workers)))

    try:
        _run(go())
    finally:
        for n in c.names:
            c.resume(n)
    oks = [o for o in ops if o.type == "ok"]
    assert len({o.f for o in oks}) == 2 and len(oks) > 100, "too little happened to judge"
    result = check_linearizable(ops, "register", time_limit=30)
    assert result["valid"] is True, result.get("explanation")
