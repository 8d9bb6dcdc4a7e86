"""Causal chains: the checker's chain evidence on hand-built histories of each chain shape, and the causal-kv
workload's chain generator in simulated time (against a store that loses causality the way fifo-only does, and
one that keeps it)."""

from __future__ import annotations

import pytest

from checkers.causal import CHAIN_LIMIT, check_causal
from harness.api import Completion
from harness.generator import clients, simulate
from harness.workloads import causal_kv
from harness.workloads.causal_chains import STEPS, causal_chains
from tests.test_crdt_histories import H


def node_of(p):
    return f"n{p % 3 + 1}"


def w(h, p, key, value):
    return h.op(p, "write", value, key=key, node=node_of(p))


def r(h, p, key, result):
    return h.op(p, "read", result=result, key=key, node=node_of(p))


def anomaly(res, typ):
    return next(a for a in res["anomalies"] if a["type"] == typ)


def shape(chain):
    return [(e["process"], e["f"], e["key"], e["value"], e.get("via")) for e in chain]


def test_write_read_write_chain_across_three_sessions():
    # A writes x; B reads it, then writes y; C reads y, then reads x and misses A's write.
    h = H()
    wx = w(h, 0, "x", 1)
    rx = r(h, 1, "x", 1)
    wy = w(h, 1, "y", 1)
    ry = r(h, 2, "y", 1)
    rx2 = r(h, 2, "x", None)
    res = check_causal(h.ops)
    assert res["valid"] is False
    a = anomaly(res, "WriteCOInitRead")
    assert a["ops"] == [wx, rx2]
    assert [e["index"] for e in a["chain"]] == [wx, rx, wy, ry, rx2]
    assert shape(a["chain"]) == [(0, "write", "x", 1, None), (1, "read", "x", 1, "rf"), (1, "write", "y", 1, "po"),
                                 (2, "read", "y", 1, "rf"), (2, "read", "x", None, "po")]
    assert [e["node"] for e in a["chain"]] == ["n1", "n2", "n2", "n3", "n3"]
    assert "process 0 on n1 wrote \"x\" 1" in a["explanation"] and "process 1 on n2 read it" in a["explanation"]
    assert "then read \"x\" -> null" in a["explanation"]
    # The session guarantee broken on the way (C read B's write, whose writer had read A's) has the same chain.
    wfr = anomaly(res, "writes-follow-reads")
    assert [e["index"] for e in wfr["chain"]] == [wx, rx, wy, ry, rx2]


def test_chain_twin_is_valid():
    h = H()
    w(h, 0, "x", 1)
    r(h, 1, "x", 1)
    w(h, 1, "y", 1)
    r(h, 2, "y", 1)
    r(h, 2, "x", 1)
    assert check_causal(h.ops)["valid"] is True
    # And without B having seen x, C may miss it: no chain, no anomaly.
    h2 = H()
    w(h2, 0, "x", 1)
    r(h2, 1, "x", None)
    w(h2, 1, "y", 1)
    r(h2, 2, "y", 1)
    r(h2, 2, "x", None)
    assert check_causal(h2.ops)["valid"] is True


def test_chain_to_an_overwritten_value_is_write_co_read():
    # A writes x twice; C, after the chain, returns the first (overwritten) value.
    h = H()
    w1 = w(h, 0, "x", 1)
    w2 = w(h, 0, "x", 2)
    rx = r(h, 1, "x", 2)
    w(h, 1, "y", 7)
    r(h, 2, "y", 7)
    bad = r(h, 2, "x", 1)
    a = anomaly(check_causal(h.ops), "WriteCORead")
    assert a["ops"] == [w1, w2, bad]
    assert a["chain"][0]["index"] == w2 and a["chain"][1]["index"] == rx and a["chain"][-1]["index"] == bad


def test_longer_chain_through_four_sessions_keeps_one_entry_per_hop():
    h = H()
    wx = w(h, 0, "x", 1)
    r(h, 1, "k", None)            # unrelated ops on the way are not part of the chain
    rx = r(h, 1, "x", 1)
    r(h, 1, "k", None)
    wy = w(h, 1, "y", 1)
    ry = r(h, 2, "y", 1)
    wz = w(h, 2, "z", 1)
    rz = r(h, 3, "z", 1)
    r(h, 3, "k", None)
    bad = r(h, 3, "x", None)
    a = anomaly(check_causal(h.ops), "WriteCOInitRead")
    assert [e["index"] for e in a["chain"]] == [wx, rx, wy, ry, wz, rz, bad]
    assert [e.get("via") for e in a["chain"]] == [None, "rf", "po", "rf", "po", "rf", "po"]


def test_read_your_writes_chain_is_program_order_only():
    h = H()
    wx = w(h, 4, "x", 1)
    r(h, 4, "k", None)
    bad = r(h, 4, "x", None)
    res = check_causal(h.ops)
    a = anomaly(res, "read-your-writes")
    assert [(e["index"], e.get("via")) for e in a["chain"]] == [(wx, None), (bad, "po")]


def test_monotonic_writes_chain_runs_through_the_later_write():
    # A writes x then y; C reads y (A's later write), then x: the initial value misses A's earlier write.
    h = H()
    wx = w(h, 0, "x", 1)
    wy = w(h, 0, "y", 1)
    ry = r(h, 2, "y", 1)
    bad = r(h, 2, "x", None)
    res = check_causal(h.ops)
    a = anomaly(res, "monotonic-writes")
    assert [e["index"] for e in a["chain"]] == [wx, wy, ry, bad]


def test_only_the_first_anomalies_of_a_type_get_a_chain():
    h = H()
    for i in range(CHAIN_LIMIT + 3):
        w(h, 0, f"x{i}", 1)
        r(h, 0, f"x{i}", None)
    res = check_causal(h.ops)
    got = [a for a in res["anomalies"] if a["type"] == "WriteCOInitRead"]
    assert len(got) == CHAIN_LIMIT + 3
    assert sum(1 for a in got if "chain" in a) == CHAIN_LIMIT


# ------------------------------------------------------------------------------------------------ the generator

class Store:
    """Three replicas (thread t talks to node t % 3). ``lose_causality``: a write of an ``x`` key reaches only the
    next node (origin + 1) and never the third, while every other write reaches every node at once: the third node
    can see a y that was written after x was seen, and still miss x (fifo-only's bug, made deterministic)."""

    def __init__(self, concurrency: int, lose_causality: bool):
        self.c, self.lose = concurrency, lose_causality
        self.data = [{}, {}, {}]

    def complete(self, op) -> Completion:
        node = (op.process % self.c) % 3
        if op.f == "read":
            return Completion("ok", self.data[node].get(op.key))
        if op.f == "write":
            to = [node, (node + 1) % 3] if self.lose and str(op.key).startswith("x") else [0, 1, 2]
            for n in to:
                self.data[n][op.key] = op.value
            return Completion("ok", op.value)
        return Completion("ok", [[k, self.data[node].get(k)] for k in op.value])


def _run(lose: bool, seed: int = 3, concurrency: int = 6):
    store = Store(concurrency, lose)
    gen = clients(causal_chains({}, rate=200, nodes=3, random_op=lambda ctx: causal_kv.client_op(ctx, {})))
    return simulate(gen, concurrency=concurrency, nemesis=False, seed=seed, latency=2_000_000,
                    complete=store.complete, time_limit=3.0)


@pytest.mark.timeout(60)
def test_chains_follow_their_steps_on_three_nodes():
    ops = _run(lose=False)
    by_key: dict = {}
    for op in ops:
        if op.type == "invoke" and str(op.key)[0] in "xy":
            by_key.setdefault(op.key[1:], []).append(op)
    finished = 0
    for slot_ops in by_key.values():
        chain = []
        for op in slot_ops:
            # Steps 2 and 4 are polls: a repeat of the read just made is the same step.
            if len(chain) in (3, 5) and (chain[-1].process, chain[-1].f, chain[-1].key) == (op.process, op.f, op.key):
                continue
            chain.append(op)
            if len(chain) == len(STEPS):
                assert [(o.f, o.key[0]) for o in chain] == [(f, k) for _, f, k in STEPS]
                a, b, c = chain[0].process, chain[2].process, chain[4].process
                assert [o.process for o in chain] == [a, a, b, b, c, c]
                assert len({a % 6 % 3, b % 6 % 3, c % 6 % 3}) == 3          # three different nodes
                finished += 1
                chain = []
    assert finished >= 20
    assert check_causal(ops)["valid"] is True                             # a causal store stays valid


@pytest.mark.timeout(60)
def test_chains_expose_a_store_that_loses_causality_from_the_history_alone():
    res = check_causal(_run(lose=True))
    assert res["valid"] is False
    a = anomaly(res, "WriteCOInitRead")
    assert [e["f"] for e in a["chain"]] == ["write", "read", "write", "read", "read"]
    assert len({e["process"] for e in a["chain"]}) == 3


def test_random_ops_only_with_fewer_than_three_nodes():
    ops = simulate(clients(causal_chains({}, rate=200, nodes=2, random_op=lambda ctx: causal_kv.client_op(ctx, {}))),
                   concurrency=4, nemesis=False, seed=1, latency=2_000_000, time_limit=1.0)
    assert ops and all(str(op.key).startswith("k") for op in ops)
