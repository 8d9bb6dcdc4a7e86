"""The causal checker on small hand-built histories (each bad pattern with a valid twin), the delivery-order
checker, and a property: histories of a simulated causally consistent store are always valid."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from splitbrain.checkers.causal import check_causal, check_delivery_order
from splitbrain.checkers.convergence import check_convergence
from tests.test_crdt_histories import H


def types(res):
    return {a["type"] for a in res["anomalies"]}


def test_thin_air_read_and_twin():
    h = H()
    h.r(1, "x", 5)
    res = check_causal(h.ops)
    assert res["valid"] is False and types(res) == {"ThinAirRead"}
    assert res["anomalies"][0]["ops"] == [0] and "no write" in res["anomalies"][0]["explanation"]
    h2 = H()
    h2.w(0, "x", 5)
    h2.r(1, "x", 5)
    assert check_causal(h2.ops)["valid"] is True


def test_read_of_a_failed_write_is_thin_air():
    h = H()
    h.w(0, "x", 5, type="fail")
    h.r(1, "x", 5)
    res = check_causal(h.ops)
    assert types(res) == {"ThinAirRead"} and "failed write op 0" in res["anomalies"][0]["explanation"]


def test_write_co_init_read_is_also_read_your_writes():
    h = H()
    w = h.w(1, "x", 1)
    r = h.r(1, "x", None)
    res = check_causal(h.ops)
    assert res["valid"] is False
    assert types(res) == {"WriteCOInitRead", "read-your-writes"}
    a = next(a for a in res["anomalies"] if a["type"] == "WriteCOInitRead")
    assert a["ops"] == [w, r]
    assert res["session_guarantees"]["read-your-writes"]["valid"] is False
    assert res["session_guarantees"]["monotonic-reads"]["valid"] is True
    # Twin: another session may still see the initial value (nothing orders it after the write).
    h2 = H()
    h2.w(1, "x", 1)
    h2.r(2, "x", None)
    assert check_causal(h2.ops)["valid"] is True


def test_write_co_read_is_also_monotonic_reads():
    h = H()
    w1 = h.w(1, "x", 1)
    h.r(2, "x", 1)
    w2 = h.w(2, "x", 2)
    h.r(3, "x", 2)
    r = h.r(3, "x", 1)
    res = check_causal(h.ops)
    assert res["valid"] is False
    assert types(res) == {"WriteCORead", "monotonic-reads"}
    a = next(a for a in res["anomalies"] if a["type"] == "WriteCORead")
    assert a["ops"] == [w1, w2, r]
    assert "overwritten" in a["explanation"]
    h2 = H()
    h2.w(1, "x", 1)
    h2.r(2, "x", 1)
    h2.w(2, "x", 2)
    h2.r(3, "x", 1)
    h2.r(3, "x", 2)
    assert check_causal(h2.ops)["valid"] is True


def test_monotonic_writes():
    h = H()
    h.w(1, "x", 1)
    h.w(1, "y", 1)
    h.r(2, "y", 1)
    h.r(2, "x", None)
    res = check_causal(h.ops)
    assert types(res) == {"WriteCOInitRead", "monotonic-writes"}
    assert res["session_guarantees"]["monotonic-writes"]["count"] == 1
    h2 = H()
    h2.w(1, "x", 1)
    h2.w(1, "y", 1)
    h2.r(2, "y", 1)
    h2.r(2, "x", 1)
    assert check_causal(h2.ops)["valid"] is True


def test_writes_follow_reads():
    h = H()
    h.w(1, "x", 1)
    h.r(2, "x", 1)
    h.w(2, "y", 1)
    h.r(3, "y", 1)
    h.r(3, "x", None)
    res = check_causal(h.ops)
    assert types(res) == {"WriteCOInitRead", "writes-follow-reads"}
    h2 = H()
    h2.w(1, "x", 1)
    h2.r(2, "x", 1)
    h2.w(2, "y", 1)
    h2.r(3, "y", 1)
    h2.r(3, "x", 1)
    assert check_causal(h2.ops)["valid"] is True


def test_cyclic_co():
    h = H()
    h.r(1, "x", 2)
    h.w(1, "y", 1)
    h.r(2, "y", 1)
    h.w(2, "x", 2)
    res = check_causal(h.ops)
    assert res["valid"] is False and types(res) == {"CyclicCO"}
    assert sorted(res["anomalies"][0]["ops"]) == [0, 2, 4, 6]
    assert res["models"] == {"CC": False, "CM": False, "CCv": False}
    h2 = H()
    h2.r(1, "x", None)
    h2.w(1, "y", 1)
    h2.r(2, "y", 1)
    h2.w(2, "x", 2)
    assert check_causal(h2.ops)["valid"] is True


def _cc_not_cm():
    # Causally consistent read by read, but no single view of session 2 explains its reads: reading x=2 (its own
    # write) after x=1 became visible orders x=1 before x=2, which puts z=1 before the read of z's initial value.
    h = H()
    h.w(1, "z", 1)
    h.w(1, "x", 1)
    h.w(1, "y", 1)
    h.w(2, "x", 2)
    h.r(2, "z", None)
    h.r(2, "y", 1)
    h.r(2, "x", 2)
    return h


def test_write_hb_init_read_is_causal_memory_only():
    h = _cc_not_cm()
    cc = check_causal(h.ops)
    assert cc["valid"] is True and cc["anomalies"] == []
    assert cc["models"] == {"CC": True, "CM": False, "CCv": True}
    assert [a["type"] for a in cc["other_anomalies"]] == ["WriteHBInitRead"]
    cm = check_causal(h.ops, model="CM")
    assert cm["valid"] is False and types(cm) == {"WriteHBInitRead"}
    assert cm["anomalies"][0]["ops"] == [0, 8]
    # Twin: session 2 reads z after it can see z=1.
    h2 = H()
    h2.w(1, "z", 1)
    h2.w(1, "x", 1)
    h2.w(1, "y", 1)
    h2.w(2, "x", 2)
    h2.r(2, "z", 1)
    h2.r(2, "y", 1)
    h2.r(2, "x", 2)
    assert check_causal(h2.ops, model="CM")["valid"] is True


def test_cyclic_hb_and_cyclic_cf():
    h = H()
    h.w(1, "x", 1)
    h.w(1, "y", 1)
    h.w(1, "z", 1)
    h.w(2, "y", 2)
    h.w(2, "x", 2)
    h.r(3, "x", 2)
    h.r(3, "x", 1)
    h.r(3, "z", 1)
    h.r(3, "y", 2)
    res = check_causal(h.ops, model="CM")
    assert res["models"]["CC"] is True
    assert "CyclicHB" in types(res) and res["valid"] is False
    assert "CyclicCF" in {a["type"] for a in res["other_anomalies"]}


def test_cyclic_cf_only():
    # Each session reads the other's write after its own: fine for CC and CM, but no total order of writes works.
    h = H()
    h.w(1, "x", 1)
    h.w(2, "x", 2)
    h.r(1, "x", 2)
    h.r(2, "x", 1)
    res = check_causal(h.ops, model="CCv")
    assert res["models"] == {"CC": True, "CM": True, "CCv": False}
    assert types(res) == {"CyclicCF"} and res["valid"] is False
    h2 = H()
    h2.w(1, "x", 1)
    h2.w(2, "x", 2)
    h2.r(1, "x", 2)
    h2.r(2, "x", 2)
    assert check_causal(h2.ops, model="CCv")["valid"] is True


def test_duplicate_values_are_unknown_and_time_limit_is_unknown():
    h = H()
    h.w(1, "x", 1)
    h.w(2, "x", 1)
    assert check_causal(h.ops)["valid"] == "unknown"
    h2 = H()
    for i in range(300):
        h2.w(i % 7, "x", i)
        h2.r(i % 5 + 10, "x", i)
    assert check_causal(h2.ops, time_limit=0.0)["valid"] == "unknown"


def test_info_writes_may_be_read_and_failed_reads_are_ignored():
    h = H()
    h.w(1, "x", 1, type="info")
    h.op(2, "read", result=None, key="x", type="fail")
    h.r(2, "x", 1)
    assert check_causal(h.ops)["valid"] is True


# ------------------------------------------------------------------------------------------ delivery order
def _u(origin, seq, **vc):
    return {"id": f"{origin}:{seq}", "origin": origin, "seq": seq, "vc": {origin: seq, **vc}}


def test_delivery_order():
    a, b = _u("n1", 1), _u("n2", 1, n1=1)
    ok = check_delivery_order({"n1": [a, b], "n2": [a, b], "n3": [a, b]})
    assert ok["valid"] is True and ok["undelivered"] == {"n1": 0, "n2": 0, "n3": 0}
    bad = check_delivery_order({"n1": [a, b], "n3": [b, a]})
    assert bad["valid"] is False
    [an] = bad["anomalies"]
    assert an["type"] == "causal-violation" and an["node"] == "n3" and an["updates"] == ["n1:1", "n2:1"]
    assert "position 1" in an["explanation"]
    fifo = check_delivery_order({"n1": [_u("n1", 2, n2=0), _u("n1", 1)]})
    assert [x["type"] for x in fifo["anomalies"]] == ["fifo-violation"]
    dup = check_delivery_order({"n1": [a, a]})
    assert [x["type"] for x in dup["anomalies"]] == ["duplicate-delivery"]
    missing = check_delivery_order({"n1": [a, b], "n2": [a]})
    assert missing["valid"] is True and missing["undelivered"] == {"n1": 0, "n2": 1}


# ------------------------------------------------------------------------------------------ property
class _SimStore:
    """A causally consistent, convergent store: replicas deliver each other's updates in causal order and keep
    per-key LWW registers ordered by Lamport timestamps (so causally later writes win)."""

    def __init__(self, replicas: int):
        self.n = replicas
        self.delivered = [set() for _ in range(replicas)]
        self.vals = [dict() for _ in range(replicas)]
        self.clock = [0] * replicas
        self.updates = []  # (id, replica, deps, key, value, ts)

    def write(self, r, key, value):
        self.clock[r] += 1
        uid = len(self.updates)
        self.updates.append((uid, r, frozenset(self.delivered[r]), key, value, (self.clock[r], r)))
        self._apply(r, uid)

    def _apply(self, r, uid):
        _, _, _, key, value, ts = self.updates[uid]
        self.delivered[r].add(uid)
        self.clock[r] = max(self.clock[r], ts[0])
        cur = self.vals[r].get(key)
        if cur is None or ts > cur[0]:
            self.vals[r][key] = (ts, value)

    def deliverable(self, r):
        return [u[0] for u in self.updates if u[0] not in self.delivered[r] and u[2] <= self.delivered[r]]

    def deliver_one(self, r, rng):
        c = self.deliverable(r)
        if c:
            self._apply(r, rng.choice(c))

    def read(self, r, key):
        cur = self.vals[r].get(key)
        return None if cur is None else cur[1]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(5, 80))
def test_simulated_causal_store_is_always_valid_and_converges(seed, steps):
    rng = random.Random(seed)
    sim = _SimStore(3)
    procs = {p: p % 3 for p in range(5)}
    h = H()
    counter = 0
    for _ in range(steps):
        p = rng.randrange(5)
        r = procs[p]
        key = rng.choice("xy")
        roll = rng.random()
        if roll < 0.35:
            counter += 1
            sim.write(r, key, counter)
            h.w(p, key, counter)
        elif roll < 0.7:
            h.r(p, key, sim.read(r, key))
        else:
            sim.deliver_one(rng.randrange(3), rng)
    res = check_causal(h.ops, model="CCv")
    assert res["valid"] is True, res
    assert res["models"]["CC"] is True
    # Heal: deliver everything, then every replica reads each key as a final read.
    for r in range(3):
        while sim.deliverable(r):
            sim.deliver_one(r, rng)
    for key in "xy":
        for r in range(3):
            h.op(100 + r, "final-read", result=sim.read(r, key), key=key, node=f"n{r + 1}")
    conv = check_convergence(h.ops, datatype="register")
    assert conv["valid"] is True, conv


def test_final_reads_count_as_reads():
    # A wall-clock LWW under skew: process 1 read w1, then wrote w2 (causally later), yet every replica ends on w1.
    h = H()
    w1 = h.w(1, "x", 1)
    h.r(2, "x", 1)
    w2 = h.w(2, "x", 2)
    fr = h.op(2, "final-read", result=1, key="x", node="n2")
    res = check_causal(h.ops)
    assert res["valid"] is False and "WriteCORead" in types(res)
    assert next(a for a in res["anomalies"] if a["type"] == "WriteCORead")["ops"] == [w1, w2, fr]
    assert check_causal(h.ops, read_f="read")["valid"] is True  # not looking at final reads: nothing seen
    # The same as a multi-key snapshot (final-read-all), and its twin that ends on w2.
    for final, valid in ((1, False), (2, True)):
        h2 = H()
        h2.w(1, "x", 1)
        h2.r(2, "x", 1)
        h2.w(2, "x", 2)
        i = h2.invoke(2, "final-read-all", ["x", "y"], node="n2")
        h2.complete(2, "final-read-all", [["x", final], ["y", None]], node="n2")
        res2 = check_causal(h2.ops)
        assert res2["valid"] is valid
        if not valid:
            assert i in next(a for a in res2["anomalies"] if a["type"] == "WriteCORead")["ops"]
