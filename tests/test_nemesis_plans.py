"""Fault packages' plan functions are pure: same rng, same plan; JSON data; targets within the cluster."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis import FAULTS, fault_for, select_nodes
from splitbrain.nemesis.grudge import majority

node_lists = st.integers(min_value=1, max_value=9).map(lambda n: [f"n{i}" for i in range(1, n + 1)])


@settings(max_examples=40, deadline=None)
@given(node_lists, st.integers(0, 2**32), st.data())
def test_start_and_stop_ops_are_pure_json_plans(nodes, seed, data):
    leader = data.draw(st.sampled_from(nodes + [None]))
    for name, pkg in FAULTS.items():
        a = pkg.start_op(random.Random(seed), list(nodes), leader)
        b = pkg.start_op(random.Random(seed), list(nodes), leader)
        assert a == b and a.f == f"start-{name}"
        assert json.loads(json.dumps(a.value)) == a.value
        stop = pkg.stop_op(random.Random(seed), nodes, leader, started=a)
        assert stop.f == f"stop-{name}" and json.loads(json.dumps(stop.value)) == stop.value
        assert fault_for(a.f) is pkg and fault_for(stop.f) is pkg
        if isinstance(a.value, dict) and "nodes" in a.value:
            assert set(a.value["nodes"]) <= set(nodes) and a.value["nodes"]


@settings(max_examples=60, deadline=None)
@given(node_lists, st.integers(0, 2**32))
def test_select_nodes_sizes(nodes, seed):
    rng = random.Random(seed)
    n = len(nodes)
    assert len(select_nodes(rng, nodes, "one")) == 1
    assert len(select_nodes(rng, nodes, "minority")) == max(1, (n - 1) // 2)
    assert len(select_nodes(rng, nodes, "majority")) == majority(n)
    assert select_nodes(rng, nodes, "all") == sorted(nodes)
    assert select_nodes(rng, nodes, "leader", nodes[-1]) == [nodes[-1]]
    assert len(select_nodes(rng, nodes, "leader", None)) == 1


def test_leader_targeting_and_options():
    kill_leader = dataclasses.replace(FAULTS["kill"], targets=("leader",))
    inv = kill_leader.start_op(random.Random(1), ["n1", "n2", "n3"], leader="n2")
    assert inv == Invocation("start-kill", {"target": "leader", "nodes": ["n2"]})
    iso = dataclasses.replace(FAULTS["partition"], shapes=("isolate",))
    inv = iso.start_op(random.Random(1), ["n1", "n2", "n3"], leader="n3")
    assert inv.value["grudge"] == {"n1": ["n3"], "n2": ["n3"], "n3": ["n1", "n2"]}
    assert FAULTS["kill"].stop_op().value == {"nodes": None}  # without the start: every node


def test_unknown_ops_and_malformed_plans_are_bad_input():
    with pytest.raises(BadInput):
        fault_for("start-meteor")
    with pytest.raises(BadInput):
        FAULTS["partition"].apply(None, Invocation("start-partition", ["n1"]))
    with pytest.raises(ValueError):
        select_nodes(random.Random(0), ["n1"], "most")


def test_stop_undoes_exactly_the_started_nodes_except_for_leader_targets():
    kill = FAULTS["kill"]
    started = Invocation("start-kill", {"target": "minority", "nodes": ["n2"]})
    assert kill.stop_op(random.Random(0), ["n1", "n2", "n3"], started=started).value == {"nodes": ["n2"]}
    # the runner may re-aim a leader-targeted fault at the current leader, so the stop covers every node
    started = Invocation("start-pause", {"target": "leader", "nodes": ["n1"]})
    assert FAULTS["pause"].stop_op(random.Random(0), ["n1", "n2"], started=started).value == {"nodes": None}
