"""The voter-restart fault's pure parts (who plays which part, the first cut) and its refusals; the fault itself
runs against real raft-kv nodes in tests/test_hard_bugs_e2e.py."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.harness.run.spec import NEMESIS_NAMES
from splitbrain.nemesis import FAULTS

PKG = FAULTS["voter-restart"]


@given(n=st.sampled_from([3, 5, 7]), pick=st.floats(min_value=0, max_value=1, exclude_max=True),
       leader_i=st.integers(min_value=0, max_value=6))
def test_parts_cover_the_cluster_once_and_each_side_can_make_a_majority(n, pick, leader_i):
    nodes = [f"n{i}" for i in range(1, n + 1)]
    leader = nodes[leader_i % n]
    p = PKG.roles_of(nodes, leader, pick)
    everyone = [p["leader"], p["voter"], p["candidate"], *p["candidate_helpers"], *p["leader_helpers"]]
    assert sorted(everyone) == sorted(nodes) and p["leader"] == leader
    majority = n // 2 + 1
    # the candidate wins with the voter and its helpers; the leader's side again with the same voter
    assert 1 + 1 + len(p["candidate_helpers"]) == majority
    assert 1 + 1 + len(p["leader_helpers"]) == majority


def test_pick_moves_the_parts_round():
    nodes = ["n1", "n2", "n3"]
    seen = {(PKG.roles_of(nodes, "n1", pick)["voter"]) for pick in (0.0, 0.5)}
    assert seen == {"n2", "n3"}


def test_first_cut_separates_the_candidate_from_the_leaders_side_but_not_the_voter():
    p = PKG.roles_of([f"n{i}" for i in range(1, 6)], "n1", 0.0)
    g = PKG.first_grudge(p)
    a, b, v = p["candidate"], p["leader"], p["voter"]
    for x in [b, *p["leader_helpers"]]:
        assert x in g[a] and a in g[x]
    for x in p["candidate_helpers"]:
        assert x in g[b] and b in g[x]
    assert v not in g and all(v not in srcs for srcs in g.values())


def test_even_clusters_and_missing_roles_are_refused():
    with pytest.raises(BadInput):
        PKG.roles_of(["n1", "n2", "n3", "n4"], "n1", 0.0)
    with pytest.raises(BadInput, match="ReportsRoles"):
        PKG.apply(object(), Invocation("start-voter-restart", {"pick": 0.1}))


def test_plans_are_data_from_the_rng_and_the_fault_is_known():
    import random
    a = PKG.start_op(random.Random(3), ["n1", "n2", "n3"])
    b = PKG.start_op(random.Random(3), ["n1", "n2", "n3"])
    assert a == b and a.f == "start-voter-restart" and 0 <= a.value["pick"] < 1
    assert PKG.stop_op().f == "stop-voter-restart"
    assert "voter-restart" in NEMESIS_NAMES


def test_a_run_with_a_system_that_reports_no_roles_is_refused_before_anything_starts(tmp_path, isolated_state):
    from splitbrain.harness.run.runner import run_test
    from splitbrain.harness.run.spec import TestSpec
    spec = TestSpec(system="quorum-kv", variant="correct", workload="register", nodes=3, time_limit=1,
                    nemesis=("voter-restart",))
    with pytest.raises(BadInput, match="ReportsRoles"):
        run_test(spec, store_root=tmp_path / "store", progress=False)
    even = TestSpec(system="raft-kv", variant="correct", workload="register", nodes=4, time_limit=1,
                    nemesis=("voter-restart",))
    with pytest.raises(BadInput, match="odd number"):
        run_test(even, store_root=tmp_path / "store", progress=False)
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("history.jsonl"))


class _NoLeaderCluster:
    """Three running nodes that never elect a leader: every try of the fault stops at its first step."""

    nodes = ["n1", "n2", "n3"]

    def is_paused(self, n):
        return False

    def resume(self, n):
        return True

    def is_running(self, n):
        return True

    def state(self):
        return {"nodes": {}}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("time_left", [None, 0.0])
def test_no_try_starts_after_the_runs_load_has_ended(monkeypatch, time_left):
    """The run waits for the fault, so its tries stop at the end of the load (the view's time_left), not only at
    the fault's own budget; the first try always runs."""
    import dataclasses

    from splitbrain.nemesis import FixedView, appliers

    monkeypatch.setattr(appliers, "heal_partition", lambda c: {"healed": list(c.nodes)})
    fault = dataclasses.replace(PKG, candidate_wait=0.05, attempts=4)
    followers = {n: {"role": "follower", "term": 1} for n in _NoLeaderCluster.nodes}
    out = fault.apply(_NoLeaderCluster(), Invocation("start-voter-restart", {"pick": 0.5}),
                      FixedView(roles=followers, time_left=time_left))
    assert all(a["stopped"] == "no leader to start from" for a in out["attempts"])
    if time_left is None:
        assert len(out["attempts"]) == 4 and out["stopped"] == "no try got a second leader (4 tries)"
    else:
        assert len(out["attempts"]) == 1 and out["stopped"] == "out of time after 1 tries (the run's load ended)"
