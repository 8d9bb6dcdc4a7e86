"""Fault appliers against real namespaces: each partition plan blocks exactly the pairs it names (TCP connects from
every namespace to every other, UDP datagrams for one-way plans), heal restores every pair, loss and process faults
do what their plans say."""

from __future__ import annotations

import random
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from splitbrain.harness.api import Invocation
from splitbrain.nemesis import FAULTS, apply, grudge as g, heal_all

pytestmark = pytest.mark.netns

PROBE_TIMEOUT = 0.4


def tcp_matrix(addrs, echo) -> set[tuple[str, str]]:
    """(receiver, sender) pairs for which a TCP connect from sender's namespace to receiver fails."""
    def probe(a):
        reply = echo(a, {"type": "probe", "timeout": PROBE_TIMEOUT}, timeout=5)
        return a.name, reply["value"]

    with ThreadPoolExecutor(len(addrs)) as pool:
        results = dict(pool.map(probe, addrs))
    return {(dst, src) for src, seen in results.items() for dst, ok in seen.items() if not ok}


def udp_matrix(addrs, echo) -> set[tuple[str, str]]:
    """(receiver, sender) pairs for which a UDP datagram from sender did not arrive at receiver."""
    nonce = uuid.uuid4().hex
    for a in addrs:
        echo(a, {"type": "probe", "timeout": 0.05, "nonce": nonce}, timeout=5)
    heard = {a.name: set(echo(a, {"type": "heard", "nonce": nonce})["value"]) for a in addrs}
    names = [a.name for a in addrs]
    return {(dst, src) for dst in names for src in names if src != dst and src not in heard[dst]}


def iptables_rules(cluster, node) -> str:
    return cluster.host(node).exec(["iptables-save"]).stdout


@pytest.mark.timeout(90)
def test_partition_shapes_block_exactly_the_named_pairs_and_heal_restores(echo_cluster, echo):
    c, addrs = echo_cluster(4)
    assert tcp_matrix(addrs, echo) == set()
    rng = random.Random(7)
    for shape in ("halves", "isolate", "majorities-ring", "bridge"):
        grudge = g.SHAPES[shape](c.nodes, rng, "n2")
        blocked = g.pairs(grudge)
        assert blocked, shape
        inv = FAULTS["partition"].start_op(rng, c.nodes)  # exercised too, but apply our chosen shape
        result = apply(c, Invocation("start-partition", {"shape": shape, "grudge": grudge}))
        assert result["grudge"] == grudge and inv.f == "start-partition"
        # TCP needs both directions, so a connect fails iff either direction is blocked
        symmetric = blocked | {(s, d) for d, s in blocked}
        assert tcp_matrix(addrs, echo) == symmetric, shape
    heal = apply(c, FAULTS["partition"].stop_op())
    assert heal["healed"] == c.nodes
    assert tcp_matrix(addrs, echo) == set()
    for n in c.nodes:
        assert f"sbp-{c.run_id}" not in iptables_rules(c, n)


@pytest.mark.timeout(60)
def test_one_way_partition_is_one_way(echo_cluster, echo):
    c, addrs = echo_cluster(3)
    assert udp_matrix(addrs, echo) == set()
    grudge = g.one_way(c.nodes, hearing=["n1"], deaf=["n2", "n3"])
    apply(c, Invocation("start-partition", {"shape": "one-way", "grudge": grudge}))
    # n2 and n3 do not hear n1; n1 still hears both; n2 and n3 hear each other
    assert udp_matrix(addrs, echo) == {("n2", "n1"), ("n3", "n1")}
    FAULTS["partition"].heal(c)
    assert udp_matrix(addrs, echo) == set()


@pytest.mark.timeout(60)
def test_loss_drops_packets_and_heal_removes_only_its_chain(echo_cluster, echo):
    c, addrs = echo_cluster(2)
    apply(c, Invocation("start-partition", {"grudge": {"n1": ["n2"]}}))
    res = apply(c, Invocation("start-loss", {"nodes": ["n2"], "probability": 1.0}))
    assert res == {"nodes": ["n2"], "probability": 1.0}
    with pytest.raises(OSError):  # every packet to n2 is dropped: not even the controller gets through
        echo(addrs[1], {"type": "status"}, timeout=0.5, connect_deadline=0.5)
    rules = iptables_rules(c, "n2")
    assert "statistic" in rules and "--probability 1" in rules
    apply(c, Invocation("start-loss", {"nodes": ["n2"], "probability": 0.0}))  # replaces, does not add
    assert iptables_rules(c, "n2").count("statistic") == 1
    FAULTS["loss"].heal(c)
    assert echo(addrs[1], {"type": "status"})["ok"]
    assert "statistic" not in iptables_rules(c, "n2")
    assert f"sbp-{c.run_id}" in iptables_rules(c, "n1")  # the partition is untouched by healing loss
    FAULTS["partition"].heal(c)
    assert all("sb" not in iptables_rules(c, n).replace("-w", "") for n in c.nodes)


@pytest.mark.timeout(60)
def test_process_fault_packages_and_heal_all(echo_cluster, echo):
    c, addrs = echo_cluster(3)
    rng = random.Random(3)
    kill = FAULTS["kill"]
    g_nodes = sorted(rng.sample(c.nodes, 2))
    start = Invocation("start-kill", {"target": "majority", "nodes": g_nodes})
    res = apply(c, start)
    assert res["killed"] == g_nodes and all(not c.is_running(n) for n in g_nodes)
    stop = kill.stop_op(rng, c.nodes, started=start)
    assert stop.value == {"nodes": g_nodes}
    assert apply(c, stop)["restarted"] == g_nodes
    for a in addrs:
        assert echo(a, {"type": "status"})["value"]["boots"] == (2 if a.name in g_nodes else 1)

    res = apply(c, Invocation("start-pause", {"target": "leader", "nodes": ["n3"]}))
    assert res == {"paused": ["n3"], "not-running": []}
    with pytest.raises(socket.timeout):
        echo(addrs[2], {"type": "status"}, timeout=0.4)
    apply(c, Invocation("start-kill", {"target": "one", "nodes": ["n1"]}))
    apply(c, Invocation("start-clock", {"mode": "offset", "nodes": ["n2"], "seconds": {"n2": 500}}))
    apply(c, Invocation("start-clock", {"mode": "bump", "nodes": ["n2"], "seconds": {"n2": -100}}))
    assert c.clock_offset("n2") == 400
    apply(c, Invocation("start-partition", {"grudge": g.isolate(c.nodes, None, "n2")}))

    healed = heal_all(c)
    assert healed["pause"]["resumed"] == ["n2", "n3"] and healed["kill"]["restarted"] == ["n1"]
    for a in addrs:
        st = echo(a, {"type": "status"})["value"]
        assert abs(st["time"] - time.time()) < 1.0
    assert tcp_matrix(addrs, echo) == set()


@pytest.mark.timeout(60)
def test_clock_strobe_flips_and_returns(echo_cluster, echo):
    c, addrs = echo_cluster(1)
    seen = []
    from threading import Thread
    t = Thread(target=lambda: seen.append(apply(c, Invocation(
        "start-clock", {"mode": "strobe", "nodes": ["n1"], "delta": 50, "period": 0.1, "duration": 1.0}))))
    t.start()
    skews = set()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        skews.add(round(echo(addrs[0], {"type": "status"})["value"]["time"] - time.time()))
        time.sleep(0.03)
    t.join(10)
    assert {0, 50} <= skews
    assert seen[0]["flips"] >= 5 and c.clock_offset("n1") == 0
    assert abs(echo(addrs[0], {"type": "status"})["value"]["time"] - time.time()) < 1.0
