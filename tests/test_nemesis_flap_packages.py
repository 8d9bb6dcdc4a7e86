"""The ``crash`` (hang, then die) and ``chase`` (isolate each new leader) faults: their plans, and what
their appliers do to a cluster, checked against a recording fake cluster (no processes, no iptables)."""

from __future__ import annotations

import random

import pytest

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis import FAULTS, appliers, fault_for
from splitbrain.harness.run.spec import NEMESIS_NAMES

NODES = ["n1", "n2", "n3"]


class FakeCluster:
    """Records pause/kill/restart calls in order; ``down`` nodes are not running."""

    def __init__(self, nodes=NODES, down=()):
        self.nodes = list(nodes)
        self.running = {n: n not in down for n in nodes}
        self.calls: list[tuple[str, str]] = []

    def host(self, node):
        if node not in self.nodes:
            raise BadInput(f"no node {node}", "test")

    def is_running(self, node):
        return self.running[node]

    def pause(self, node):
        self.calls.append(("pause", node))
        return self.running[node]

    def kill(self, node):
        self.calls.append(("kill", node))
        was, self.running[node] = self.running[node], False
        return was

    def restart(self, node):
        self.calls.append(("restart", node))
        self.running[node] = True

    def state(self):
        return {"nodes": {n: {"argv": ["python3"]} for n in self.nodes}}


def test_both_packages_are_registered_and_named_in_the_spec():
    for name in ("crash", "chase"):
        assert name in FAULTS and name in NEMESIS_NAMES
        assert fault_for(f"start-{name}") is FAULTS[name]
        assert fault_for(f"stop-{name}") is FAULTS[name]


def test_crash_plan_is_seeded_and_names_targets_and_hold():
    pkg = FAULTS["crash"]
    a = pkg.start_op(random.Random(7), NODES)
    assert a == pkg.start_op(random.Random(7), NODES)
    assert a.value["hold"] in pkg.holds and a.value["target"] in pkg.targets
    majority = None
    for seed in range(30):
        inv = pkg.start_op(random.Random(seed), NODES)
        if inv.value["target"] == "majority":
            majority = inv
            break
    assert majority is not None and len(majority.value["nodes"]) == 2
    assert pkg.stop_op(random.Random(0), NODES, started=majority).value == {"nodes": majority.value["nodes"]}


def test_crash_hangs_every_target_before_killing_any():
    cluster = FakeCluster()
    out = FAULTS["crash"].apply(cluster, Invocation("start-crash", {"target": "majority", "hold": 0.01,
                                                                       "nodes": ["n1", "n3"]}))
    # all pauses precede the first kill: no victim drains its sockets while another is already gone
    assert cluster.calls == [("pause", "n1"), ("pause", "n3"), ("kill", "n1"), ("kill", "n3")]
    steps = out.pop("steps")
    assert out == {"hold": 0.01, "hung": ["n1", "n3"], "killed": ["n1", "n3"], "not-running": []}
    # the two steps reach the history, in order, the kill no earlier than the hold
    assert [(s["step"], s["nodes"]) for s in steps] == [("hung", ["n1", "n3"]), ("killed", ["n1", "n3"])]
    assert steps[1]["at"] >= 0.01
    out = FAULTS["crash"].apply(cluster, Invocation("stop-crash", {"nodes": ["n1", "n3"]}))
    assert out == {"restarted": ["n1", "n3"]} and cluster.running == {"n1": True, "n2": True, "n3": True}


def test_crash_reports_a_target_that_is_already_down_and_blocks_for_the_hold():
    import time
    cluster = FakeCluster(down=("n2",))
    t0 = time.monotonic()
    out = FAULTS["crash"].apply(cluster, Invocation("start-crash", {"hold": 0.2, "nodes": ["n1", "n2"]}))
    assert time.monotonic() - t0 >= 0.2
    assert out["hung"] == ["n1"] and out["killed"] == ["n1"] and out["not-running"] == ["n2"]
    assert ("kill", "n2") not in cluster.calls


@pytest.mark.parametrize("value", [["n1"], {"hold": "long", "nodes": ["n1"]}])
def test_malformed_crash_plans_are_bad_input(value):
    with pytest.raises(BadInput):
        FAULTS["crash"].apply(FakeCluster(), Invocation("start-crash", value))


def test_chase_start_and_stop_both_isolate_the_leader(monkeypatch):
    pkg = FAULTS["chase"]
    start = pkg.start_op(random.Random(3), NODES, leader="n2")
    stop = pkg.stop_op(random.Random(4), NODES, started=start)
    for inv in (start, stop):
        # applied, "isolate-leader" re-aims itself at the current leader; the plan's own grudge is the fallback
        assert inv.value["shape"] == "isolate-leader"
        grudge = inv.value["grudge"]
        isolated = [n for n, drops in grudge.items() if len(drops) == len(NODES) - 1]
        assert len(isolated) == 1
    by_hand = Invocation("stop-chase", None)  # a stop with no plan (splitbrain nemesis) reconnects

    applied = []
    monkeypatch.setattr(appliers, "apply_partition", lambda cluster, grudge: applied.append(grudge) or {})
    monkeypatch.setattr(appliers, "heal_partition", lambda cluster: applied.append("healed") or {})
    pkg.apply(None, start)
    pkg.apply(None, stop)  # a stop replaces the isolation instead of healing it
    pkg.apply(None, by_hand)
    pkg.heal(None)
    assert applied == [start.value["grudge"], stop.value["grudge"], "healed", "healed"]


def test_malformed_chase_plan_is_bad_input():
    with pytest.raises(BadInput):
        FAULTS["chase"].apply(None, Invocation("start-chase", ["n1"]))


# ------------------------------------------------------------------------------------------------ flap

def _record_network(monkeypatch, log):
    monkeypatch.setattr(appliers, "apply_partition", lambda cluster, grudge: log.append(("partition", grudge)) or {})
    monkeypatch.setattr(appliers, "heal_partition", lambda cluster: log.append(("heal-partition",)) or {})
    monkeypatch.setattr(appliers, "apply_loss", lambda cluster, nodes, p: log.append(("loss", nodes, p)) or {})
    monkeypatch.setattr(appliers, "heal_loss", lambda cluster: log.append(("heal-loss",)) or {})


def test_flap_is_registered_and_its_plan_is_seeded_and_bounded():
    pkg = FAULTS["flap"]
    assert "flap" in NEMESIS_NAMES and fault_for("start-flap") is pkg and fault_for("stop-flap") is pkg
    a = pkg.start_op(random.Random(3), NODES, leader="n2")
    assert a == pkg.start_op(random.Random(3), NODES, leader="n2")
    assert a.value["target"] == "leader" and a.value["nodes"] == ["n2"] and a.value["loss"] in pkg.losses
    assert len(a.value["flaps"]) == pkg.flaps
    assert all(pkg.down[0] <= d <= pkg.down[1] and pkg.up[0] <= u <= pkg.up[1] for d, u in a.value["flaps"])


def test_flap_bridge_cuts_the_others_apart_and_leaves_the_middle_connected():
    pkg = FAULTS["flap"]
    assert pkg.bridge_around(NODES, "n2") == {"n1": ["n3"], "n3": ["n1"]}
    five = pkg.bridge_around(["a", "b", "c", "d", "e"], "c")
    assert "c" not in five and five["a"] == ["b", "e"] and five["b"] == ["a", "d"]
    assert pkg.bridge_around(["a", "b"], "a") == {}


def test_flap_kills_and_restarts_the_middle_behind_a_bridge_and_stop_undoes_everything(monkeypatch):
    log = []
    _record_network(monkeypatch, log)
    cluster = FakeCluster()
    pkg = FAULTS["flap"]
    out = pkg.apply(cluster, Invocation("start-flap", {"target": "leader", "nodes": ["n3"], "loss": 0.4,
                                                       "flaps": [[0.0, 0.0], [0.01, 0.0]]}))
    assert log == [("partition", {"n1": ["n2"], "n2": ["n1"]}), ("loss", ["n1", "n2"], 0.4)]  # loss on the halves
    assert cluster.calls == [("kill", "n3"), ("restart", "n3"), ("kill", "n3"), ("restart", "n3")]
    assert out["middle"] == "n3" and out["killed"] == 2 and out["restarted"] == 2
    assert cluster.running["n3"]  # the episode ends with the middle up
    cluster.running["n1"] = False  # whatever is down when the stop comes is restarted
    stop = pkg.stop_op(random.Random(0), NODES, started=None)
    out = pkg.apply(cluster, stop)
    assert ("heal-partition",) in log and ("heal-loss",) in log and out["restarted"] == ["n1"]


def test_flap_restarts_the_middle_even_when_the_wait_is_interrupted(monkeypatch):
    log = []
    _record_network(monkeypatch, log)
    cluster = FakeCluster()

    def boom(_):
        raise KeyboardInterrupt

    monkeypatch.setattr("splitbrain.nemesis.faults.process.time.sleep", boom)
    with pytest.raises(KeyboardInterrupt):
        FAULTS["flap"].apply(cluster, Invocation("start-flap", {"nodes": ["n1"], "loss": 0.3,
                                                                  "flaps": [[0.5, 0.5]]}))
    assert cluster.calls == [("kill", "n1"), ("restart", "n1")] and cluster.running["n1"]


@pytest.mark.parametrize("value", [None, {"nodes": ["n1"]}, {"nodes": ["n1"], "loss": 0.3, "flaps": [[1]]},
                                   {"nodes": ["n1"], "loss": "x", "flaps": []},
                                   {"nodes": ["n1"], "loss": 0.3, "flaps": [[10, 10]]}])
def test_malformed_or_too_long_flap_plans_are_bad_input(monkeypatch, value):
    _record_network(monkeypatch, [])
    cluster = FakeCluster()
    with pytest.raises(BadInput):
        FAULTS["flap"].apply(cluster, Invocation("start-flap", value))
    assert cluster.calls == []  # nothing was done before the plan was judged
