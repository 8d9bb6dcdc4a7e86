"""Fault targets as pure plans (nemesis/targets.py and the faults that use them), plus the plugin-facing error
table extensions (harness/client_errors.py). No processes."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.harness import client_errors
from splitbrain.harness.api import Invocation
from splitbrain.nemesis import FAULTS
from splitbrain.nemesis.faults.network import PartitionFault
from splitbrain.nemesis.faults.process import KillFault
from splitbrain.nemesis.grudge import pairs
from splitbrain.nemesis.targets import TARGETS, cut_off, select_nodes, size

NAMED = {"one": lambda n: 1, "minority": lambda n: (n - 1) // 2, "majority": lambda n: n // 2 + 1,
         "all": lambda n: n}


@settings(max_examples=150, deadline=None)
@given(n=st.sampled_from([3, 5, 7]), target=st.sampled_from(TARGETS), seed=st.integers(0, 2**31),
       leader=st.integers(0, 10))
def test_each_target_picks_as_many_nodes_as_it_names(n, target, seed, leader):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    lead = f"n{leader}" if leader else None  # n0 and n8-n10 are no nodes: the fallback
    chosen = select_nodes(random.Random(seed), nodes, target, lead)
    assert chosen == sorted(set(chosen)) and set(chosen) <= set(nodes)
    if target in NAMED:
        assert len(chosen) == NAMED[target](n) == size(target, n)
    else:  # leader, primaries: the known leader, else one node the fault re-aims when applied
        assert chosen == ([lead] if lead in nodes else chosen) and len(chosen) == 1
    assert select_nodes(random.Random(seed), nodes, target, lead) == chosen  # a seed gives the same plan


@settings(max_examples=150, deadline=None)
@given(n=st.sampled_from([3, 5, 7]), data=st.data())
def test_cut_off_separates_exactly_the_targets_from_the_rest(n, data):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    chosen = data.draw(st.lists(st.sampled_from(nodes), min_size=1, unique=True))
    cut = pairs(cut_off(nodes, chosen))
    if len(chosen) == n:  # every node alone
        assert cut == {(a, b) for a in nodes for b in nodes if a != b}
    else:
        rest = set(nodes) - set(chosen)
        assert cut == {(a, b) for a in nodes for b in nodes if (a in rest) != (b in rest)}


@settings(max_examples=60, deadline=None)
@given(n=st.sampled_from([3, 5, 7]), target=st.sampled_from(["one", "minority", "majority", "all"]),
       seed=st.integers(0, 2**31))
def test_packages_with_targets_plan_exactly_those_nodes(n, target, seed):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    for name in ("kill", "pause", "crash", "loss", "clock", "partition"):
        pkg = dataclasses.replace(FAULTS[name], targets=(target,))
        op = pkg.start_op(random.Random(seed), nodes)
        assert len(op.value["nodes"]) == NAMED[target](n), (name, op)
        if name == "partition":
            assert op.value["shape"] == "cut-off" and op.value["grudge"] == cut_off(nodes, op.value["nodes"])


def test_a_stop_of_a_fault_aimed_at_the_primaries_undoes_it_everywhere():
    started = Invocation("start-kill", {"target": "primaries", "nodes": ["n2"]})
    assert FAULTS["kill"].stop_op(started=started).value == {"nodes": None}
    started = Invocation("start-kill", {"target": "one", "nodes": ["n2"]})
    assert FAULTS["kill"].stop_op(started=started).value == {"nodes": ["n2"]}


def test_plugins_add_error_codes_and_map_their_library_exceptions(monkeypatch):
    monkeypatch.setattr(client_errors, "ERRORS", dict(client_errors.ERRORS))
    monkeypatch.setattr(client_errors, "EXCEPTIONS", [])

    class DriverError(Exception):
        pass

    class DriverRefused(DriverError):
        pass

    client_errors.register_error("pg-serialization", True, "the transaction was rolled back")
    client_errors.register_error("pg-unknown", False, "the driver lost track of the transaction")
    client_errors.register_exception(DriverError, "pg-unknown")
    client_errors.register_exception(DriverRefused, "connection-refused")
    assert client_errors.completion_for_error("pg-serialization", "write").type == "fail"
    assert client_errors.completion_for_exception(DriverError("x"), "write", sent=True).type == "info"
    c = client_errors.completion_for_exception(DriverRefused("no"), "write", sent=True)  # the subclass wins
    assert c.type == "fail" and c.error.startswith("connection-refused")
    # unregistered library errors stay "crashed" (indefinite), as before
    assert client_errors.completion_for_exception(KeyError("k"), "write", sent=True).error.startswith("crashed")
    with pytest.raises(ValueError):
        client_errors.register_error("timeout", True, "a timeout is never definite")
    with pytest.raises(ValueError):
        client_errors.register_exception(ValueError, "no-such-code")


@dataclasses.dataclass(frozen=True)
class _RecordedKill(KillFault):
    """The kill fault, aiming itself as ever, but only recording the plan it would carry out."""

    def carry_out(self, cluster, inv, view=None):
        return {"plan": inv.value}


@dataclasses.dataclass(frozen=True)
class _RecordedPartition(PartitionFault):
    def carry_out(self, cluster, inv, view=None):
        return {"plan": inv.value}


class _Cluster:
    nodes = ["n1", "n2", "n3", "n4", "n5"]


class _System:
    """KnowsLeader and KnowsPrimaries, answering what the test says."""

    name = "fake"

    def __init__(self, leader, primaries):
        self._leader, self._primaries = leader, primaries

    async def leader(self, nodes, timeout):
        return self._leader, (7 if self._leader else None)

    async def primaries(self, nodes, timeout):
        return list(self._primaries)


@pytest.mark.parametrize("leader,primaries", [("n4", ["n2", "n5"]), (None, [])])
def test_leader_and_primaries_faults_aim_themselves_when_applied_and_record_it(leader, primaries):
    import asyncio

    from splitbrain.harness.run.fault_view import SystemFaultView
    from splitbrain.harness.run.workers import NemesisWorker

    async def go():
        view = SystemFaultView(_System(leader, primaries), [], 0.2, asyncio.get_running_loop(), _Cluster.nodes)
        worker = NemesisWorker(_Cluster(), {"kill": _RecordedKill(), "partition": _RecordedPartition()}, view)
        plans = [Invocation("start-kill", {"target": "leader", "nodes": ["n1"]}),
                 Invocation("start-kill", {"target": "primaries", "nodes": ["n1"]}),
                 Invocation("start-partition", {"shape": "cut-off", "target": "primaries", "nodes": ["n1"],
                                                "grudge": cut_off(_Cluster.nodes, ["n1"])}),
                 Invocation("start-partition", {"shape": "isolate-leader", "grudge": cut_off(_Cluster.nodes, ["n1"])})]
        return [(await worker.invoke("nemesis", inv)).value for inv in plans]

    kill_leader, kill_prim, cut_prim, iso = asyncio.run(go())
    if leader is None:  # nobody known: the plan's own node, and the completion says it was a fallback
        assert all(v["resolved"]["fallback"] is True for v in (kill_leader, kill_prim, cut_prim, iso))
        assert kill_prim["plan"]["nodes"] == ["n1"] and cut_prim["plan"]["grudge"] == cut_off(_Cluster.nodes, ["n1"])
        return
    assert kill_leader["plan"]["nodes"] == [leader]
    assert kill_leader["resolved"] == {"target": "leader", "nodes": [leader], "leader": leader, "term": 7}
    assert kill_prim["plan"]["nodes"] == primaries and kill_prim["resolved"]["nodes"] == primaries
    assert cut_prim["plan"]["nodes"] == primaries and cut_prim["plan"]["grudge"] == cut_off(_Cluster.nodes, primaries)
    assert iso["plan"]["grudge"] == cut_off(_Cluster.nodes, [leader]) and iso["resolved"]["leader"] == leader
