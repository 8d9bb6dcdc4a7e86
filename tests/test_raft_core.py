"""Unit tests of raft-kv's pure parts, without processes: the log, the vote and commit rules (Figure 8 included),
the RaftCore driven through a simulated network, ReadIndex, snapshots, the state machine's dedup and storage."""

from __future__ import annotations

import json
import random

import pytest

from splitbrain.systems_under_test.raft_kv.core import (LEADER, Log, RaftCore, advance_commit, log_up_to_date,
                                             may_grant_vote, quorum_index)
from splitbrain.systems_under_test.raft_kv.state_machine import KVStateMachine
from splitbrain.systems_under_test.raft_kv.storage import Storage


def make_log(terms: list[int]) -> Log:
    return Log(0, 0, [[t, {"op": "write", "key": "k", "value": i + 1}] for i, t in enumerate(terms)])


# --------------------------------------------------------------------------------------------------- the log


def test_log_indexing_truncation_and_compaction():
    log = make_log([1, 1, 2, 3, 3])
    assert (log.last_index, log.last_term) == (5, 3)
    assert log.term_at(0) == 0 and log.term_at(3) == 2 and log.term_at(6) is None
    assert log.first_index_of_term_at(5) == 4 and log.last_index_of_term(1) == 2
    assert log.last_index_of_term(4) is None
    log.compact(3, 2)
    assert (log.snapshot_index, log.snapshot_term, log.last_index) == (3, 2, 5)
    assert log.term_at(2) is None and log.term_at(3) == 2 and log.term_at(4) == 3
    assert [e[1]["value"] for e in log.slice(4, 5)] == [4, 5]
    log.truncate_from(5)
    assert log.last_index == 4
    log.compact(9, 7)  # a snapshot beyond the log empties it
    assert (log.last_index, log.last_term, log.entries) == (9, 7, [])


# --------------------------------------------------------------------------------------------------- pure rules


def test_up_to_date_compares_last_term_then_length():
    assert log_up_to_date(3, 1, 2, 10)          # later last term wins even if shorter
    assert not log_up_to_date(2, 10, 3, 1)
    assert log_up_to_date(2, 5, 2, 5) and not log_up_to_date(2, 4, 2, 5)


def test_one_vote_per_term_and_only_for_up_to_date_logs():
    assert may_grant_vote(5, None, "a", 5, 1, 1, 1, 1)
    assert may_grant_vote(5, "a", "a", 5, 1, 1, 1, 1)       # the same candidate asking again
    assert not may_grant_vote(5, "a", "b", 5, 9, 9, 1, 1)   # already voted for someone else this term
    assert not may_grant_vote(5, None, "a", 4, 9, 9, 1, 1)  # stale candidate
    assert not may_grant_vote(5, None, "a", 5, 1, 1, 2, 1)  # candidate's log is behind


def test_quorum_index():
    assert quorum_index([5, 3, 1]) == 3
    assert quorum_index([5, 5, 1, 1, 1]) == 1
    assert quorum_index([7, 6, 6, 2, 1]) == 6


def test_figure_8_commit_rule():
    """Figure 8: S1 leads term 4 with log [1, 2]; the term-2 entry at index 2 reaches S1, S2, S3 (a majority).
    Counting replicas would commit it, yet S5 (log [1, 3]) can still be elected by S2, S3, S4 and overwrite it."""
    s1 = make_log([1, 2])
    matches = [2, 2, 2, 1, 1]
    assert advance_commit(s1, matches, current_term=4, commit_index=1) == 1
    assert advance_commit(s1, matches, current_term=4, commit_index=1, commit_old_terms=True) == 2
    # Why it is wrong: S5's log is more up to date than the majority holding the "committed" entry.
    assert all(log_up_to_date(3, 2, 2, 2) for _ in ("S2", "S3", "S4"))
    # Once an entry of the leader's own term is on a majority, it commits, and index 2 with it.
    s1.append(4, {"op": "noop"})
    assert advance_commit(s1, [3, 3, 3, 1, 1], current_term=4, commit_index=1) == 3
    # The commit index never goes down.
    assert advance_commit(s1, [1, 1, 1, 1, 1], current_term=4, commit_index=3) == 3


# --------------------------------------------------------------------------------------------------- simulated cluster


class Sim:
    """Cores wired through an in-memory network; ``cut`` holds dropped directed links. Persistence is modelled:
    ``durable`` keeps what each node's storage would hold, and ``restart`` rebuilds a core from it."""

    def __init__(self, n: int = 3, seed: int = 1, **kw):
        self.names = [f"n{i}" for i in range(1, n + 1)]
        self.kw = kw
        self.rng = random.Random(seed)
        self.now = 0.0
        self.cut: set[tuple[str, str]] = set()
        self.durable = {name: {"term": 0, "vote": None} for name in self.names}
        self.cores = {name: self._core(name, 0, None, None) for name in self.names}
        self.applied: dict[str, list] = {name: [] for name in self.names}

    def _core(self, name, term, vote, log):
        return RaftCore(name, self.names, term=term, voted_for=vote, log=log, rng=random.Random(self.rng.random()),
                        now=self.now, **self.kw)

    def deliver(self, rounds: int = 50) -> None:
        for _ in range(rounds):
            moved = False
            for name, core in self.cores.items():
                batch = core.take_persist()
                if batch and batch["hard"] is not None:
                    self.durable[name] = {"term": batch["hard"][0], "vote": batch["hard"][1]}
                if batch:
                    core.on_persisted(*batch["last"])
                for i, term, cmd in core.take_committed():
                    self.applied[name].append((i, term, cmd))
                for to, msg, _ in core.take_outbox():
                    if (name, to) not in self.cut and to in self.cores:
                        self.cores[to].step(dict(msg), self.now)
                        moved = True
                core.replicate(self.now)
            if not moved:
                return

    def run(self, seconds: float, step: float = 0.01) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += step
            for core in self.cores.values():
                core.tick(self.now)
            self.deliver()

    def leaders(self) -> list[str]:
        return [n for n, c in self.cores.items() if c.role == LEADER]

    def leader(self) -> RaftCore:
        (name,) = self.leaders()
        return self.cores[name]

    def isolate(self, name: str) -> None:
        for other in self.names:
            if other != name:
                self.cut |= {(name, other), (other, name)}


def test_election_gives_one_leader_and_replication_commits_on_all():
    sim = Sim()
    sim.run(1.5)
    assert len(sim.leaders()) == 1
    leader = sim.leader()
    for v in range(5):
        assert leader.propose({"op": "write", "key": "k", "value": v}, sim.now) is not None
    sim.run(0.2)
    for name in sim.names:
        cmds = [c for _, _, c in sim.applied[name] if c["op"] == "write"]
        assert [c["value"] for c in cmds] == list(range(5)), name
        assert sim.cores[name].commit_index == leader.log.last_index


def test_follower_conflicting_suffix_is_replaced_by_the_leaders():
    sim = Sim()
    sim.run(1.5)
    old = sim.leader()
    sim.isolate(old.id)
    # The isolated leader appends entries nobody else will ever see.
    for v in range(3):
        old.propose({"op": "write", "key": "k", "value": f"lost{v}"}, sim.now)
    sim.run(2.0)
    new_leaders = [n for n in sim.leaders() if n != old.id]
    assert len(new_leaders) == 1
    new = sim.cores[new_leaders[0]]
    new.propose({"op": "write", "key": "k", "value": "kept"}, sim.now)
    sim.run(0.3)
    sim.cut.clear()
    sim.run(1.0)
    assert old.role != LEADER or old.term >= new.term
    leader = sim.leader()
    for core in sim.cores.values():
        assert core.log.last_index == leader.log.last_index
        values = [e[1].get("value") for e in core.log.entries]
        assert "kept" in values and not any(str(v).startswith("lost") for v in values)


def test_a_vote_is_durable_before_the_reply_leaves_and_granted_once_per_term():
    voter = RaftCore("n1", ["n1", "n2", "n3"], rng=random.Random(0))
    voter.step({"t": "rv", "term": 3, "from": "n2", "last_index": 0, "last_term": 0}, 0.0)
    batch = voter.take_persist()
    assert batch["hard"] == (3, "n2")
    (to, reply, after_persist), = voter.take_outbox()
    assert (to, reply["granted"], after_persist) == ("n2", True, True)
    voter.step({"t": "rv", "term": 3, "from": "n3", "last_index": 9, "last_term": 3}, 0.0)
    (_, reply, _), = voter.take_outbox()
    assert reply["granted"] is False


@pytest.mark.parametrize("pre_vote", [True, False])
def test_a_returning_partitioned_follower_deposes_the_leader_only_without_pre_vote(pre_vote):
    sim = Sim(pre_vote=pre_vote)
    sim.run(1.5)
    leader = sim.leader()
    term = leader.term
    follower = next(n for n in sim.names if n != leader.id)
    sim.isolate(follower)
    sim.run(2.0)  # several election timeouts cut off
    if pre_vote:
        assert sim.cores[follower].term == term   # asked, refused, changed nothing
    else:
        assert sim.cores[follower].term > term    # its term climbed while cut off
    sim.cut.clear()
    sim.run(1.0)
    # With pre-vote the same leader keeps its term; without, the returning node's higher term deposes it.
    assert (leader.role == LEADER and leader.term == term) is pre_vote


def test_pre_vote_elects_a_new_leader_after_the_leader_dies():
    sim = Sim(pre_vote=True)
    sim.run(1.5)
    old = sim.leader()
    sim.isolate(old.id)
    sim.run(1.5)
    others = [n for n in sim.leaders() if n != old.id]
    assert len(others) == 1 and sim.cores[others[0]].term == old.term + 1  # one pre-vote round, one real term


def test_pre_vote_changes_no_term_or_vote_and_is_refused_while_a_leader_is_heard():
    voter = RaftCore("n1", ["n1", "n2", "n3"], term=3, pre_vote=True)
    voter.step({"t": "ae", "term": 3, "from": "n2", "prev_index": 0, "prev_term": 0, "entries": [], "commit": 0,
                "round": 1}, 1.0)
    voter.take_outbox()
    pv = {"t": "pv", "term": 4, "from": "n3", "last_index": 0, "last_term": 0}
    voter.step(dict(pv), 1.1)  # leader n2 heard 0.1 s ago: refuse
    (_, reply, _), = voter.take_outbox()
    assert reply["granted"] is False and reply["term"] == 3
    voter.step(dict(pv), 1.0 + voter.election_timeout[0] + 0.01)
    (_, reply, _), = voter.take_outbox()
    assert reply["granted"] is True and reply["term"] == 4
    assert (voter.term, voter.voted_for, voter.take_persist()) == (3, None, None)


def test_volatile_vote_restart_votes_twice_in_one_term():
    """A node restarted from storage that kept its vote refuses a second candidate; one that forgot votes again."""
    def restarted(vote_kept: bool) -> RaftCore:
        return RaftCore("n1", ["n1", "n2", "n3"], term=3 if vote_kept else 0, voted_for="n2" if vote_kept else None)
    rv = {"t": "rv", "term": 3, "from": "n3", "last_index": 0, "last_term": 0}
    kept, forgot = restarted(True), restarted(False)
    kept.step(dict(rv), 0.0)
    forgot.step(dict(rv), 0.0)
    assert kept.take_outbox()[0][1]["granted"] is False
    assert forgot.take_outbox()[0][1]["granted"] is True


@pytest.mark.parametrize("persist_vote", [True, False])
def test_a_voter_restarted_between_two_elections_makes_two_leaders_in_one_term_only_if_votes_are_volatile(
        tmp_path, persist_vote):
    """A wins term 1 with C's vote; C crashes before A's first append reaches it and restarts from its storage; B,
    which never heard of term 1, then asks C for term 1. With the vote on disk C refuses; volatile-vote C grants,
    and B leads term 1 too (what the election checker reports from the nodes' own claims)."""
    names = ["a", "b", "c"]
    a, b, c = (RaftCore(n, names, pre_vote=False) for n in names)
    store = Storage(str(tmp_path / "c"), persist_vote=persist_vote)

    def step_c(core: RaftCore, msg: dict) -> dict:
        core.step(msg, 1.0)
        batch = core.take_persist()
        if batch is not None:
            store.write(batch)  # the server writes before it sends a vote (after_persist)
        (_, reply, _), = core.take_outbox()
        return reply

    a.tick(10.0)                                    # a's timer runs out first: candidate for term 1
    rv_a = next(m for to, m, _ in a.take_outbox() if to == "c")
    a.step(step_c(c, rv_a), 10.0)
    assert (a.role, a.term) == (LEADER, 1)
    a.take_outbox()                                 # its appends are lost: c crashes now
    store.close()
    store = Storage(str(tmp_path / "c"), persist_vote=persist_vote)
    term, vote, rlog, _ = store.load()
    c2 = RaftCore("c", names, term=term, voted_for=vote, log=rlog, pre_vote=False)
    b.tick(10.0)                                    # b (still term 0) campaigns: term 1 as well
    rv_b = next(m for to, m, _ in b.take_outbox() if to == "c")
    assert rv_b["term"] == 1
    b.step(step_c(c2, rv_b), 10.0)
    leaders_of_term_1 = sorted(n.id for n in (a, b) if n.role == LEADER and n.term == 1)
    assert leaders_of_term_1 == (["a"] if persist_vote else ["a", "b"])
    store.close()


def test_storage_round_trip_and_volatile_vote(tmp_path):
    for persist_vote in (True, False):
        st = Storage(str(tmp_path / f"v{persist_vote}"), persist_vote=persist_vote)
        st.write({"hard": (4, "n2"), "snapshot": None, "truncate_from": 1,
                  "entries": [(1, 1, {"op": "noop"}), (2, 2, {"op": "write", "key": "a", "value": 1}),
                              (3, 2, {"op": "write", "key": "a", "value": 2})]})
        st.write({"hard": None, "snapshot": None, "truncate_from": 3, "entries": [(3, 4, {"op": "noop"})]})
        st.write({"hard": None, "snapshot": (2, 2, {"registers": {'"a"': 1}}), "truncate_from": None,
                  "entries": []})
        st.close()
        term, vote, log, snap = Storage(str(tmp_path / f"v{persist_vote}"), persist_vote=persist_vote).load()
        assert (log.snapshot_index, log.snapshot_term, log.last_index, log.last_term) == (2, 2, 3, 4)
        assert snap == {"registers": {'"a"': 1}}
        if persist_vote:
            assert (term, vote) == (4, "n2")
        else:
            assert (term, vote) == (4, None)  # term from the last entry; the vote is gone


def test_read_index_waits_for_a_majority_round_and_stale_read_does_not():
    sim = Sim()
    sim.run(1.5)
    leader = sim.leader()
    sim.isolate(leader.id)
    assert leader.request_read("r1", sim.now)
    sim.run(0.2)
    assert leader.take_confirmed_reads() == []  # nobody acknowledged: must not answer
    sim.cut.clear()
    sim.run(0.1)
    if leader.role == LEADER:
        assert [t for t, _ in leader.take_confirmed_reads()] == ["r1"]

    stale = Sim(stale_reads=True)
    stale.run(1.5)
    lead = stale.leader()
    stale.isolate(lead.id)
    stale.run(1.0)  # another leader is elected meanwhile
    assert lead.request_read("r2", stale.now)
    assert [t for t, _ in lead.take_confirmed_reads()] == ["r2"]  # the bug: confirmed with no round at all


def test_commit_old_term_variant_commits_an_earlier_term_entry_by_counting():
    """Drive a leader of term 4 whose log ends in a term-2 entry: one follower acknowledges it. The correct core
    does not commit index 2; the commit-old-term core does (and it has no no-op to commit it through)."""
    for buggy in (False, True):
        core = RaftCore("n1", ["n1", "n2", "n3"], term=3, log=make_log([1, 2]), commit_old_terms=buggy,
                        pre_vote=False)
        core.commit_index = core.last_applied = 1
        core.tick(10.0)  # election timeout: candidate in term 4
        for p in ("n2", "n3"):
            core.step({"t": "rv-r", "term": 4, "from": p, "granted": True}, 10.0)
        assert core.role == LEADER and core.term == 4
        core.on_persisted(core.log.last_index, core.log.last_term)
        core.take_outbox()
        core.step({"t": "ae-r", "term": 4, "from": "n2", "success": True, "match": 2, "round": 1}, 10.0)
        assert core.commit_index == (2 if buggy else 1)


def _connect_only(sim: "Sim", *groups: list[str]) -> None:
    """Cut every link except those inside each group."""
    sim.cut = {(a, b) for a in sim.names for b in sim.names
               if a != b and not any(a in g and b in g for g in groups)}


def _run_until(sim: "Sim", cond, limit: float = 5.0) -> None:
    end = sim.now + limit
    while not cond() and sim.now < end:
        sim.run(0.05)
    assert cond(), "the scripted step did not happen in time"


def _conflicts(sim: "Sim") -> dict[int, set]:
    """Log indexes at which two nodes applied different commands (State Machine Safety broken)."""
    seen: dict[int, set] = {}
    for applied in sim.applied.values():
        for idx, term, cmd in applied:
            seen.setdefault(idx, set()).add((term, json.dumps(cmd, sort_keys=True)))
    return {i: v for i, v in seen.items() if len(v) > 1}


@pytest.mark.parametrize("buggy", [False, True])
def test_figure_8_schedule_loses_a_committed_entry_only_with_commit_old_term(buggy):
    """Figure 8 of the Raft paper on 3 nodes, scripted with partitions: A (term a) holds E alone; B wins the next
    term and is cut off at once, so F stays on B alone; A and C meet, then B and C. commit-old-term: A wins with
    C, replicates E to C, counts A+C and commits (applies) E; then B wins with C (its last term beats E's) and
    overwrites E with F: two commands applied at one index. Correct Raft: B's no-op reached C before the cut, so
    C never elects A, and whatever commits is never overwritten. Same schedule for both."""
    sim = Sim(seed=3, commit_old_terms=buggy)
    sim.run(1.5)
    a = sim.leader().id
    _connect_only(sim, [a], [n for n in sim.names if n != a])     # A cut off: E stays on A
    i = sim.cores[a].propose({"op": "write", "key": "k", "value": "E"}, sim.now)[0]
    sim.deliver()
    _run_until(sim, lambda: any(n != a for n in sim.leaders()))
    b = next(n for n in sim.leaders() if n != a)
    c = next(n for n in sim.names if n not in (a, b))
    _connect_only(sim, [a], [b], [c])                             # B cut off at once: F stays on B
    f = sim.cores[b].propose({"op": "write", "key": "k", "value": "F"}, sim.now)[0]
    assert (f == i) is buggy                                      # correct B put its no-op at i first
    sim.deliver()
    _connect_only(sim, [a, c], [b])                               # A and C meet again
    _run_until(sim, lambda: any(sim.cores[n].role == LEADER and sim.cores[n].term > sim.cores[b].term
                                for n in (a, c)))
    sim.run(0.3)
    if buggy:
        assert sim.cores[a].role == LEADER
        assert [cmd.get("value") for idx, _, cmd in sim.applied[a] if idx == i] == ["E"]  # counted, committed
    _connect_only(sim, [b, c], [a])                               # A gone; B and C meet
    sim.run(3.0)
    if buggy:
        assert sim.cores[b].role == LEADER
        assert set(_conflicts(sim)) == {i}                        # E applied on A, F on B at the same index
        assert sim.cores[c].safety_violations > 0
    else:
        assert _conflicts(sim) == {}
        assert sim.cores[b].role != LEADER                        # B's log is behind C's: never elected


def test_snapshot_compaction_and_install_snapshot_to_a_lagging_follower():
    sim = Sim()
    sim.run(1.5)
    leader = sim.leader()
    lagging = next(n for n in sim.names if n != leader.id)
    sim.isolate(lagging)
    sim.run(0.05)
    for v in range(20):
        leader.propose({"op": "write", "key": "k", "value": v}, sim.now)
    sim.run(0.3)
    assert leader.role == LEADER
    leader.compact(leader.last_applied, {"registers": {'"k"': 19}})
    assert leader.log.snapshot_index == leader.last_applied and leader.log.entries == []
    batch = leader.take_persist()
    assert batch["snapshot"][0] == leader.log.snapshot_index
    sim.cut.clear()
    sim.run(1.0)
    follower = sim.cores[lagging]
    assert follower.log.snapshot_index == leader.log.snapshot_index
    assert follower.take_snapshot_to_restore() == {"registers": {'"k"': 19}}
    assert follower.commit_index >= leader.log.snapshot_index
    # New entries after the snapshot replicate normally on top of it.
    sim.leader().propose({"op": "write", "key": "k", "value": "after"}, sim.now)
    sim.run(0.3)
    assert follower.log.entries[-1][1]["value"] == "after"


# --------------------------------------------------------------------------------------------------- state machine


def test_state_machine_ops_and_dedup():
    sm = KVStateMachine()
    assert sm.apply({"op": "write", "key": "a", "value": 1, "client": "c", "seq": 1}) == {"ok": True}
    assert sm.apply({"op": "cas", "key": "a", "value": [2, 3], "client": "c", "seq": 2})["error"] == "cas-mismatch"
    # The same (client, seq) again returns the remembered reply and changes nothing.
    assert sm.apply({"op": "cas", "key": "a", "value": [1, 3], "client": "c", "seq": 2})["error"] == "cas-mismatch"
    assert sm.read("read", "a") == 1
    add = {"op": "counter-add", "key": "n", "value": 5, "client": "c", "seq": 3}
    sm.apply(add)
    sm.apply(dict(add))
    assert sm.read("counter-read", "n") == 5
    sm.apply({"op": "set-add", "key": "s", "value": 1, "client": "d", "seq": 1})
    sm.apply({"op": "set-add", "key": "s", "value": "1", "client": "d", "seq": 2})
    assert sm.read("set-read", "s") == [1, "1"]
    copy = KVStateMachine()
    copy.restore(sm.snapshot())
    assert copy.apply(dict(add)) == {"ok": True} and copy.read("counter-read", "n") == 5  # sessions survive


def test_no_dedup_applies_a_retry_twice():
    sm = KVStateMachine(dedup=False)
    add = {"op": "counter-add", "key": "n", "value": 5, "client": "c", "seq": 1}
    sm.apply(add)
    sm.apply(dict(add))
    assert sm.read("counter-read", "n") == 10


@pytest.mark.parametrize("seed", range(5))
def test_random_partitions_never_break_log_matching_or_committed_prefixes(seed):
    """A small randomized run: partitions come and go, leaders propose; committed prefixes of all nodes agree."""
    sim = Sim(seed=seed)
    rng = random.Random(seed)
    for step in range(40):
        if rng.random() < 0.3:
            sim.cut = set()
            victim = rng.choice(sim.names)
            if rng.random() < 0.7:
                sim.isolate(victim)
        for name in sim.leaders():
            sim.cores[name].propose({"op": "write", "key": "k", "value": f"{seed}-{step}"}, sim.now)
        sim.run(0.15)
    sim.cut = set()
    sim.run(1.5)
    applied = list(sim.applied.values())
    shortest = min(len(a) for a in applied)
    for a in applied:
        assert a[:shortest] == applied[0][:shortest]
    for core in sim.cores.values():
        assert core.safety_violations == 0
