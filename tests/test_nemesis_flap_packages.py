"""The ``crash`` (hang, then die) and ``chase`` (isolate each new leader) fault packages: their plans, and what
their appliers do to a cluster, checked against a recording fake cluster (no processes, no iptables)."""

from __future__ import annotations

import random

import pytest

from harness.api import Invocation
from harness.errors import BadInput
from nemesis import PACKAGES, appliers, package_for
from harness.spec import NEMESIS_NAMES

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
        assert name in PACKAGES and name in NEMESIS_NAMES
        assert package_for(f"start-{name}") is PACKAGES[name]
        assert package_for(f"stop-{name}") is PACKAGES[name]


def test_crash_plan_is_seeded_and_names_targets_and_hold():
    pkg = PACKAGES["crash"]
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
    out = PACKAGES["crash"].apply(cluster, Invocation("start-crash", {"target": "majority", "hold": 0.01,
                                                                       "nodes": ["n1", "n3"]}))
    # all pauses precede the first kill: no victim drains its sockets while another is already gone
    assert cluster.calls == [("pause", "n1"), ("pause", "n3"), ("kill", "n1"), ("kill", "n3")]
    assert out == {"hold": 0.01, "hung": ["n1", "n3"], "killed": ["n1", "n3"], "not-running": []}
    out = PACKAGES["crash"].apply(cluster, Invocation("stop-crash", {"nodes": ["n1", "n3"]}))
    assert out == {"restarted": ["n1", "n3"]} and cluster.running == {"n1": True, "n2": True, "n3": True}


def test_crash_reports_a_target_that_is_already_down_and_blocks_for_the_hold():
    import time
    cluster = FakeCluster(down=("n2",))
    t0 = time.monotonic()
    out = PACKAGES["crash"].apply(cluster, Invocation("start-crash", {"hold": 0.2, "nodes": ["n1", "n2"]}))
    assert time.monotonic() - t0 >= 0.2
    assert out["hung"] == ["n1"] and out["killed"] == ["n1"] and out["not-running"] == ["n2"]
    assert ("kill", "n2") not in cluster.calls


@pytest.mark.parametrize("value", [["n1"], {"hold": "long", "nodes": ["n1"]}])
def test_malformed_crash_plans_are_bad_input(value):
    with pytest.raises(BadInput):
        PACKAGES["crash"].apply(FakeCluster(), Invocation("start-crash", value))


def test_chase_start_and_stop_both_isolate_the_leader(monkeypatch):
    pkg = PACKAGES["chase"]
    start = pkg.start_op(random.Random(3), NODES, leader="n2")
    stop = pkg.stop_op(random.Random(4), NODES, started=start)
    for inv in (start, stop):
        # the runner re-aims "isolate-leader" at the current leader; the plan's own grudge is the fallback
        assert inv.value["shape"] == "isolate-leader"
        grudge = inv.value["grudge"]
        isolated = [n for n, drops in grudge.items() if len(drops) == len(NODES) - 1]
        assert len(isolated) == 1
    assert pkg.heal_op().value is None

    applied = []
    monkeypatch.setattr(appliers, "apply_partition", lambda cluster, grudge: applied.append(grudge) or {})
    monkeypatch.setattr(appliers, "heal_partition", lambda cluster: applied.append("healed") or {})
    pkg.apply(None, start)
    pkg.apply(None, stop)  # a stop replaces the isolation instead of healing it
    pkg.apply(None, pkg.heal_op())
    pkg.heal(None)
    assert applied == [start.value["grudge"], stop.value["grudge"], "healed", "healed"]


def test_malformed_chase_plan_is_bad_input():
    with pytest.raises(BadInput):
        PACKAGES["chase"].apply(None, Invocation("start-chase", ["n1"]))
