"""Faults own their targeting and record what they did: a leader-aimed fault asks its view who leads when it is
applied and its history op says which node it hit; voter-restart's named steps reach the history and the report;
the one heal path heals in order and survives a failing heal. No processes: a fake cluster records what was done."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import random

import pytest

from splitbrain.harness import generator as gen
from splitbrain.harness.api import Invocation
from splitbrain.history.ops import NEMESIS, OK, HistoryWriter, read_history
from splitbrain.harness.run.interpreter import run as interpret
from splitbrain.harness.run.workers import NemesisWorker
from splitbrain.nemesis import FAULTS, FixedView, appliers, heal_all
from splitbrain.nemesis.faults.heal import heal_order
from splitbrain.reports import render_report
from splitbrain.reports.timeline import fault_periods, timeline_data

NODES = ["n1", "n2", "n3"]


class FakeCluster:
    """Processes as sets: who is down, who is paused; every signal logged. Stands in for a Cluster."""

    def __init__(self, nodes=NODES):
        self.nodes = list(nodes)
        self.down: set[str] = set()
        self.paused: set[str] = set()
        self.restarted: list[str] = []
        self.log: list[tuple[str, str]] = []

    def host(self, n):
        if n not in self.nodes:
            raise KeyError(n)

    def kill(self, n):
        self.log.append(("kill", n))
        alive = n not in self.down
        self.down.add(n)
        self.paused.discard(n)
        return alive

    def pause(self, n):
        self.log.append(("pause", n))
        if n in self.down:
            return False
        self.paused.add(n)
        return True

    def resume(self, n):
        self.log.append(("resume", n))
        was = n in self.paused
        self.paused.discard(n)
        return was

    def is_paused(self, n):
        return n in self.paused

    def is_running(self, n):
        return n not in self.down

    def restart(self, n):
        self.log.append(("restart", n))
        self.down.discard(n)
        self.restarted.append(n)

    def state(self):
        return {"nodes": {n: {"argv": ["server"]} for n in self.nodes}}


@pytest.fixture
def no_iptables(monkeypatch):
    """Partitions and loss recorded instead of applied."""
    done = []
    monkeypatch.setattr(appliers, "apply_partition", lambda c, grudge, only=None: done.append(("cut", grudge)) or {})
    monkeypatch.setattr(appliers, "heal_partition", lambda c: done.append(("heal-partition",)) or {})
    monkeypatch.setattr(appliers, "apply_loss", lambda c, nodes, p: done.append(("loss", nodes)) or {})
    monkeypatch.setattr(appliers, "heal_loss", lambda c: done.append(("heal-loss",)) or {})
    return done


def _run(tmp_path, ops, faults, cluster, view):
    """The nemesis ops through the real interpreter and nemesis worker into a real history; the history's ops."""
    path = tmp_path / "history.jsonl"
    g = gen.phases(gen.nemesis(ops), gen.heal_all())
    with HistoryWriter(path) as h:
        asyncio.run(interpret(g, workers={NEMESIS: NemesisWorker(cluster, faults, view)}, history=h,
                              rng=random.Random(1), concurrency=0))
    return read_history(path)


def _completion(ops, f):
    return next(o for o in ops if o.f == f and o.type != "invoke")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("leader", ["n2", "n3"])
def test_a_leader_aimed_kill_records_the_node_it_resolved(tmp_path, leader):
    c = FakeCluster()
    kill = FAULTS["kill"]
    # The plan's own node is n1 (the generator could not know the leader); the view says who leads now.
    ops = _run(tmp_path, [{"f": "start-kill", "value": {"target": "leader", "nodes": ["n1"]}}],
               {"kill": kill}, c, FixedView(leader=leader, term=4))
    done = _completion(ops, "start-kill")
    assert done.type == OK
    assert done.value["resolved"] == {"target": "leader", "nodes": [leader], "leader": leader, "term": 4}
    assert done.value["killed"] == [leader] and ("kill", "n1") not in c.log
    # the final heal-all restarted it, and the history says so under the fault's name
    assert _completion(ops, gen.HEAL_ALL).value["kill"]["restarted"] == [leader]
    # the report shows what was hit
    (period,) = [p for p in fault_periods(ops) if p.kind == "kill"]
    assert period.resolved["nodes"] == [leader]
    assert leader in timeline_data(ops, [])["faults"][0]["resolved"]


@pytest.mark.timeout(30)
def test_without_a_leader_the_fault_hits_its_fallback_and_says_so(tmp_path):
    c = FakeCluster()
    ops = _run(tmp_path, [{"f": "start-pause", "value": {"target": "leader", "nodes": ["n1"]}}],
               {"pause": FAULTS["pause"]}, c, FixedView(leader=None))
    done = _completion(ops, "start-pause")
    assert done.value["paused"] == ["n1"]
    assert done.value["resolved"] == {"target": "leader", "nodes": ["n1"], "fallback": True}


def test_static_targets_resolve_nothing_and_chase_resolves_the_leader(no_iptables):
    c = FakeCluster()
    out = FAULTS["kill"].apply(c, Invocation("start-kill", {"target": "one", "nodes": ["n3"]}), FixedView("n1", 2))
    assert out == {"killed": ["n3"], "already-down": []}  # a static target needs no view: nothing to resolve
    chase = FAULTS["chase"]
    out = chase.apply(c, chase.start_op(random.Random(1), NODES), FixedView("n2", 5))
    assert out["resolved"] == {"target": "leader", "nodes": ["n2"], "leader": "n2", "term": 5}
    cut = no_iptables[-1][1]
    assert sorted(cut["n2"]) == ["n1", "n3"]  # the leader the view named is the one cut off


class RaftLike(FakeCluster):
    """A 3-node cluster whose roles play out a vote forgotten across a restart, driven by what was done to it:
    n1 leads term 1; with n1 and the voter paused, the candidate stands for term 2; once the voter is resumed the
    candidate leads term 2; after the restarts the voter (which forgot its vote) leads term 2 as well. It is also
    the fault's view (only ``roles``)."""

    def __init__(self, candidate="n3", voter="n2"):
        super().__init__()
        self.candidate, self.voter = candidate, voter

    def _role(self, n):
        if self.restarted:
            return {"role": "leader" if n == self.voter else "follower", "term": 2}
        if "n1" in self.paused and n == self.candidate:
            voted = ("pause", self.voter) in self.log and self.voter not in self.paused
            return {"role": "leader" if voted else "candidate", "term": 2}
        return {"role": "leader" if n == "n1" else "follower", "term": 1}

    def roles(self, nodes):
        return {n: self._role(n) for n in nodes if n not in self.down and n not in self.paused}

    def leader(self):
        return None

    def primaries(self):
        return None


STEPS = ["leader-found", "paused-and-cut", "candidate-muted", "candidate-leads", "voter-and-leader-restarted",
         "second-leader"]


@pytest.mark.timeout(30)
def test_voter_restart_steps_appear_in_the_history_and_the_report(tmp_path, no_iptables):
    fault = dataclasses.replace(FAULTS["voter-restart"], settle=0.0, poll=0.001, candidate_wait=2.0, vote_wait=2.0,
                                restart_wait=2.0, second_wait=2.0)
    c = RaftLike()
    # pick 0.0 with leader n1: voter n2, candidate n3 (VoterRestartFault.roles_of)
    ops = _run(tmp_path, [{"f": "start-voter-restart", "value": {"pick": 0.0}}], {"voter-restart": fault}, c, c)
    done = _completion(ops, "start-voter-restart")
    assert done.type == OK and "stopped" not in done.value, done.value
    steps = done.value["steps"]
    assert [s["step"] for s in steps] == STEPS and all(s["try"] == 0 for s in steps)
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    assert steps[0]["node"] == "n1" and steps[0]["term"] == 1
    assert steps[2]["node"] == "n3" and steps[2]["term"] == 2
    assert steps[-1]["leaders"] == {"n2": 2}  # the forgotten vote: a second leader of term 2
    assert done.value["attempts"][0]["voter"] == "n2" and done.value["attempts"][0]["term"] == 2
    # what the script did, in order: leader's side paused first, then the voter; restarts of voter and leader
    assert c.log.index(("pause", "n1")) < c.log.index(("pause", "n2")) < c.log.index(("resume", "n2"))
    assert {("restart", "n1"), ("restart", "n2")} <= set(c.log)
    # the report puts each step on the test's clock, inside the fault's bar
    (period,) = [p for p in fault_periods(ops) if p.kind == "voter-restart"]
    assert [name for _, name, _ in period.steps] == STEPS
    assert all(period.start <= t <= done.time for t, _, _ in period.steps)
    shown = timeline_data(ops, [])["faults"][0]["steps"]
    assert [s["step"] for s in shown] == STEPS and "n2" in shown[-1]["info"]
    # and the rendered page lists them under the fault, from nothing but the history
    html = render_report(tmp_path).read_text()
    assert all(f"step: {name}" in html for name in STEPS)


@pytest.mark.timeout(30)
def test_a_try_that_stalls_records_the_step_it_stopped_at_and_heals(tmp_path, no_iptables):
    fault = dataclasses.replace(FAULTS["voter-restart"], settle=0.0, poll=0.001, candidate_wait=0.05, attempts=2)
    c = RaftLike(candidate="nobody")  # no node ever stands for election
    out = fault.apply(c, Invocation("start-voter-restart", {"pick": 0.0}), c)
    assert [s["step"] for s in out["steps"]] == ["leader-found", "paused-and-cut", "candidate-muted"] * 2
    assert [s["try"] for s in out["steps"]] == [0, 0, 0, 1, 1, 1]
    assert all("stopped" in out["steps"][i] for i in (2, 5)) and "did not stand" in out["attempts"][0]["stopped"]
    assert not c.paused and "no try got a second leader" in out["stopped"]  # each try undone before the next


def test_heal_order_resumes_first_and_restarts_last():
    order = heal_order(FAULTS)
    assert order[0] == "pause"
    assert order.index("partition") < order.index("clock") < order.index("kill")
    assert min(order.index(n) for n in ("kill", "crash", "flap", "voter-restart", "corrupt")) > order.index("clock")


def test_one_failing_heal_does_not_stop_the_others(no_iptables):
    @dataclasses.dataclass(frozen=True)
    class Broken(type(FAULTS["loss"])):
        def heal(self, cluster):
            raise RuntimeError("iptables went away")

    c = FakeCluster()
    c.down.add("n2")
    healed = heal_all(c, {"loss": Broken(), "kill": FAULTS["kill"]})
    assert healed["loss"] == {"error": "RuntimeError: iptables went away"}
    assert healed["kill"]["restarted"] == ["n2"]


def test_flap_records_each_kill_and_restart_as_a_step_and_its_resolved_leader(no_iptables):
    c = FakeCluster()
    plan = {"target": "leader", "nodes": ["n1"], "loss": 0.2, "flaps": [[0.0, 0.0], [0.01, 0.0]]}
    out = FAULTS["flap"].apply(c, Invocation("start-flap", plan), FixedView("n3", 9))
    assert out["middle"] == "n3" and out["resolved"]["nodes"] == ["n3"]
    assert [(s["step"], s.get("killed"), s.get("restarted")) for s in out["steps"]] == [
        ("bridged", None, None), ("down", True, None), ("up", None, True), ("down", True, None), ("up", None, True)]
    assert out["steps"][-1]["at"] >= 0.01


@pytest.mark.timeout(30)
def test_a_resume_is_not_stuck_behind_client_calls_that_fill_the_default_executor():
    """A client that waits on a paused node in the loop's default executor (as psycopg's cancel request does) must
    not starve the nemesis: the resume that would free those calls runs on the nemesis worker's own threads."""
    import threading

    c = FakeCluster()
    c.pause("n1")
    resumed = threading.Event()
    worker = NemesisWorker(c, {"pause": FAULTS["pause"]})

    async def scenario():
        loop = asyncio.get_running_loop()
        default_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        loop.set_default_executor(default_pool)
        stuck = [asyncio.to_thread(resumed.wait, 20) for _ in range(4)]  # more than the pool has threads
        stuck_tasks = [asyncio.ensure_future(s) for s in stuck]
        await asyncio.sleep(0.05)
        done = await asyncio.wait_for(worker.invoke("nemesis", Invocation("stop-pause", {"nodes": None})), 5)
        resumed.set()
        await asyncio.gather(*stuck_tasks)
        worker.close()
        return done

    done = asyncio.run(scenario())
    assert done.type == "ok" and done.value == {"resumed": ["n1"]}
    assert c.paused == set()
