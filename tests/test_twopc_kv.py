"""twopc-kv's pieces without a network: the log's replay, the participant's locks, votes, outcomes and recovery
(per variant), the coordinator's decisions and sharding."""

import asyncio

import pytest

from splitbrain.systems_under_test.twopc_kv.coordinator import Coordinator, owner
from splitbrain.systems_under_test.twopc_kv.participant import Participant
from splitbrain.systems_under_test.twopc_kv.txlog import TxLog


async def _never(coord, tx):
    return None


def _participant(tmp_path, variant="correct", inquire=_never):
    return Participant(TxLog(str(tmp_path)), variant, inquire)


def run(coro):
    return asyncio.run(coro)


def test_prepare_commit_and_replay(tmp_path):
    async def go():
        p = _participant(tmp_path)
        vote = await p.prepare("t1", "n1", [["append", 1, 5], ["r", 1, None], ["w", "x", 3]], 0.1)
        assert vote == {"vote": True, "results": [["append", 1, 5], ["r", 1, [5]], ["w", "x", 3]]}
        assert p.locks == {1: "t1", "x": "t1"} and p.data == {}
        p.commit("t1")
        assert p.data == {1: [5], "x": 3} and p.locks == {}
        vote = await p.prepare("t2", "n1", [["append", 1, 6]], 0.1)
        p.abort("t2")
        p.log.close()
    run(go())
    data, in_doubt, decisions = TxLog(str(tmp_path)).replay()
    assert data == {1: [5], "x": 3} and in_doubt == {} and decisions == {}


def test_a_held_lock_makes_a_conflicting_prepare_vote_no(tmp_path):
    async def go():
        p = _participant(tmp_path)
        assert (await p.prepare("t1", "n1", [["r", 1, None]], 0.1))["vote"] is True
        assert await p.prepare("t2", "n1", [["append", 1, 2]], 0.05) == {"vote": False, "why": "lock timeout"}
        p.commit("t1")
        assert (await p.prepare("t3", "n1", [["append", 1, 2]], 0.05))["vote"] is True
    run(go())


def test_early_lock_release_and_read_uncommitted_break_isolation(tmp_path):
    async def go():
        early = _participant(tmp_path / "a", "early-lock-release")
        await early.prepare("t1", "n1", [["append", 1, 1]], 0.1)
        assert (await early.prepare("t2", "n1", [["append", 1, 2]], 0.05))["vote"] is True  # no lock held
        early.commit("t1")
        early.commit("t2")
        assert early.data[1] == [2]  # t1's append is lost: t2 prepared on the old value

        dirty = _participant(tmp_path / "b", "read-uncommitted")
        await dirty.prepare("t1", "n1", [["append", 1, 1]], 0.1)
        assert (await dirty.prepare("t2", "n1", [["r", 1, None]], 0.05))["results"] == [["r", 1, [1]]]
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    run(go())


def test_recovery_asks_the_coordinator_about_in_doubt_transactions(tmp_path):
    asked = []

    async def inquire(coord, tx):
        asked.append((coord, tx))
        return False

    async def go():
        p = _participant(tmp_path)
        await p.prepare("t1", "n2", [["append", 1, 1]], 0.1)
        p.log.close()
        # "killed" here; a new process replays the log
        q = _participant(tmp_path, inquire=inquire)
        assert q.locks == {1: "t1"} and "t1" in q.prepared
        q.start()
        for _ in range(50):
            if "t1" not in q.prepared:
                break
            await asyncio.sleep(0.05)
        assert asked == [("n2", "t1")] and q.data == {} and q.locks == {}
    run(go())


@pytest.mark.parametrize("variant", ["presumed-commit", "no-durable-prepare"])
def test_recovery_bugs(tmp_path, variant):
    async def go():
        p = _participant(tmp_path, variant)
        await p.prepare("t1", "n2", [["append", 1, 1]], 0.1)
        p.log.close()
        q = _participant(tmp_path, variant)
        q.start()
        if variant == "presumed-commit":
            assert q.data == {1: [1]}  # committed without asking, whatever the coordinator decided
        else:
            assert q.prepared == {} and q.locks == {}  # forgotten: a later commit is acknowledged, not applied
            q.commit("t1")
            assert q.data == {}
    run(go())


def test_coordinator_commits_aborts_and_presumes_abort(tmp_path):
    async def go():
        log = TxLog(str(tmp_path))
        parts = {"n1": _participant(tmp_path / "p1"), "n2": _participant(tmp_path / "p2")}

        async def call(node, msg, timeout):
            p = parts[node]
            if msg["type"] == "prepare":
                return {"ok": True, **await p.prepare(msg["tx"], msg["coord"], msg["mops"], msg["lock_timeout"])}
            getattr(p, msg["type"])(msg["tx"])
            return {"ok": True}

        c = Coordinator("n1", ["n1", "n2"], parts["n1"], log, call, 0.2)
        reply = await c.run([["append", 2, 7], ["append", 1, 8], ["r", 2, None]])
        assert reply == {"ok": True, "value": [["append", 2, 7], ["append", 1, 8], ["r", 2, [7]]]}
        await asyncio.gather(*c._tasks)
        assert parts["n1"].data == {2: [7]} and parts["n2"].data == {1: [8]}
        await parts["n2"].prepare("other", "n9", [["r", 1, None]], 0.1)  # holds key 1
        reply = await c.run([["append", 2, 9], ["append", 1, 10]])
        assert reply["ok"] is False and reply["error"] == "aborted"
        await asyncio.gather(*c._tasks)
        assert parts["n1"].data == {2: [7]} and parts["n1"].locks == {}
        assert c.decide("n1-unknown-1") is False and c.decisions["n1-unknown-1"] is False
    for d in ("p1", "p2"):
        (tmp_path / d).mkdir()
    run(go())


def test_owner_spreads_integer_and_string_keys():
    nodes = ["n1", "n2", "n3"]
    assert [owner(k, nodes) for k in range(4)] == ["n1", "n2", "n3", "n1"]
    assert owner("x", nodes) in nodes
