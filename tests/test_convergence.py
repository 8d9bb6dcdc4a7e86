"""The convergence checker on hand-built histories (each anomaly with a valid twin), and a property: a simulated
OR-set store with causal delivery always converges to what the checker expects."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st

from splitbrain.checkers.convergence import check_convergence, expand_final_reads
from tests.test_crdt_histories import H


def finals(h, values, key=None, rounds=1):
    for _ in range(rounds):
        for i, v in enumerate(values):
            h.op(100 + i, "final-read", result=v, key=key, node=f"n{i + 1}")


def test_counter_in_bounds_and_out():
    h = H()
    h.op(1, "add", 5)
    h.op(2, "add", -2)
    h.op(3, "add", 10, type="info")
    h.op(4, "add", -1, type="info")
    h.op(5, "add", 100, type="fail")
    finals(h, [3, 3, 3])
    res = check_convergence(h.ops, datatype="counter")
    assert res["valid"] is True and res["keys"]["null"]["expected"] == [2, 13]
    h2 = H()
    h2.op(1, "add", 5)
    h2.op(2, "add", -2)
    h2.op(3, "add", 10, type="info")
    finals(h2, [14, 14, 14])
    res2 = check_convergence(h2.ops, datatype="counter")
    assert res2["valid"] is False
    assert [a["type"] for a in res2["anomalies"]] == ["wrong-value"] * 3
    assert "allow only 3 to 13" in res2["anomalies"][0]["explanation"]


def test_divergent_replicas_and_convergence_time():
    h = H()
    h.op(1, "add", 1)
    finals(h, [0, 1, 1])
    res = check_convergence(h.ops, datatype="counter")
    types = [a["type"] for a in res["anomalies"]]
    assert types == ["divergent", "wrong-value"]
    assert res["anomalies"][0]["nodes"] == {"n1": 0, "n2": 1, "n3": 1}
    assert res["anomalies"][1]["node"] == "n1"
    assert res["keys"]["null"]["convergence_ms"] is None
    # Twin: n1 catches up on the second round of final reads; convergence time is measured to that read.
    h2 = H()
    h2.op(1, "add", 1)
    finals(h2, [0, 1, 1])
    t0 = h2.ops[-6].time
    finals(h2, [1, 1, 1])
    res2 = check_convergence(h2.ops, datatype="counter")
    assert res2["valid"] is True
    n1_settled = h2.ops[-5].time  # completion of n1's second final read
    assert res2["keys"]["null"]["convergence_ms"] == round((n1_settled - t0) / 1e6, 3)
    assert res2["keys"]["null"]["nodes"]["n1"]["final_reads"] == 2


def test_set_two_phase_re_add_is_lost():
    h = H()
    h.op(1, "add", "a", node="n1")
    h.op(1, "remove", "a", node="n1")
    readd = h.op(2, "add", "a", node="n2")
    finals(h, [[], [], []])
    res = check_convergence(h.ops, datatype="set")
    assert res["valid"] is False
    lost = [a for a in res["anomalies"] if a["type"] == "lost"]
    assert len(lost) == 3 and lost[0]["elements"] == ["a"] and readd in lost[0]["ops"]
    h2 = H()
    h2.op(1, "add", "a", node="n1")
    h2.op(1, "remove", "a", node="n1")
    h2.op(2, "add", "a", node="n2")
    finals(h2, [["a"], ["a"], ["a"]])
    assert check_convergence(h2.ops, datatype="set")["valid"] is True


def test_set_concurrent_remove_may_go_either_way_and_unexpected():
    # The remove overlaps the add on another node: add-wins may keep it or the remove may have seen it.
    for final in ([], ["a"]):
        h = H()
        h.invoke(1, "add", "a", node="n1")
        h.invoke(2, "remove", "a", node="n2")
        h.complete(1, "add", "a", node="n1")
        h.complete(2, "remove", "a", node="n2")
        finals(h, [final, final])
        assert check_convergence(h.ops, datatype="set")["valid"] is True
    # Removed on the node that added it, after the add completed: it must be gone; and 'b' was never added.
    h = H()
    h.op(1, "add", "a", node="n1")
    h.op(1, "remove", "a", node="n1")
    h.op(2, "add", "b", type="fail", node="n2")
    finals(h, [["a", "b"], ["a", "b"]])
    res = check_convergence(h.ops, datatype="set")
    [u1, u2] = res["anomalies"]
    assert u1["type"] == "unexpected" and u1["elements"] == ["a", "b"]


def test_registers():
    h = H()
    h.op(1, "write", 1)
    h.op(2, "write", 2, type="info")
    h.op(3, "write", 3, type="fail")
    finals(h, [2, 2])
    assert check_convergence(h.ops, datatype="register")["valid"] is True
    h2 = H()
    h2.op(1, "write", 1)
    h2.op(3, "write", 3, type="fail")
    finals(h2, [3, 3])
    assert [a["type"] for a in check_convergence(h2.ops, datatype="register")["anomalies"]] == ["unexpected"] * 2
    h3 = H()
    h3.op(1, "write", 1)
    h3.op(2, "write", 2)
    finals(h3, [[1, 2], [2, 1]])
    assert check_convergence(h3.ops, datatype="mv-register")["valid"] is True
    h4 = H()
    h4.op(1, "write", 1)
    finals(h4, [[], []])
    assert [a["type"] for a in check_convergence(h4.ops, datatype="mv-register")["anomalies"]] == ["lost"] * 2


def test_keys_are_judged_apart_and_no_final_reads_is_unknown():
    h = H()
    h.op(1, "add", 1, key="a")
    h.op(1, "add", 2, key="b")
    finals(h, [1, 1], key="a")
    finals(h, [2, 3], key="b")
    res = check_convergence(h.ops, datatype="counter")
    assert res["valid"] is False
    assert {a["key"] for a in res["anomalies"]} == {"b"}
    h2 = H()
    h2.op(1, "add", 1)
    assert check_convergence(h2.ops, datatype="counter")["valid"] == "unknown"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(5, 80))
def test_simulated_or_set_store_converges(seed, steps):
    """OR-set replicas with causal delivery (each replica applies its own updates at once): whatever the
    interleaving, after full delivery all replicas agree and the checker accepts the result."""
    rng = random.Random(seed)
    n = 3
    updates = []                      # (id, origin, deps, kind, elem, tags)
    delivered = [set() for _ in range(n)]
    tags = [dict() for _ in range(n)]   # elem -> set(tag)

    def apply(r, uid):
        _, _, _, kind, e, ts = updates[uid]
        delivered[r].add(uid)
        if kind == "add":
            tags[r].setdefault(e, set()).add(uid)
        else:
            tags[r][e] = tags[r].get(e, set()) - ts
            if not tags[r][e]:
                del tags[r][e]

    def deliverable(r):
        return [u[0] for u in updates if u[0] not in delivered[r] and u[2] <= delivered[r]]

    h = H()
    pending = {}   # process -> (kind, elem, replica) of an invoked, not yet completed op
    for _ in range(steps):
        p = rng.randrange(4)
        r = p % n
        roll = rng.random()
        if p in pending:  # complete it (the effect happened at invoke time, inside the window)
            kind, e, _ = pending.pop(p)
            h.complete(p, kind, e, node=f"n{r + 1}")
        elif roll < 0.6:
            kind = "add" if rng.random() < 0.6 else "remove"
            e = rng.choice("abc")
            ts = frozenset(tags[r].get(e, ())) if kind == "remove" else frozenset()
            h.invoke(p, kind, e, node=f"n{r + 1}")
            updates.append((len(updates), r, frozenset(delivered[r]), kind, e, ts))
            apply(r, len(updates) - 1)
            pending[p] = (kind, e, r)
        else:
            q = rng.randrange(n)
            c = deliverable(q)
            if c:
                apply(q, rng.choice(c))
    for p, (kind, e, r) in list(pending.items()):
        h.complete(p, kind, e, type="info", node=f"n{r + 1}")
    for r in range(n):
        while deliverable(r):
            apply(r, deliverable(r)[0])
    finals(h, [sorted(t) for t in tags])
    res = check_convergence(h.ops, datatype="set")
    assert res["valid"] is True, res


def _final_all(h, process, node, pairs, type="ok"):
    """One ``final-read-all`` of the keys in ``pairs`` ([[key, value], ...]) on ``node``."""
    keys = [k for k, _ in pairs]
    i = h.invoke(process, "final-read-all", keys, node=node)
    h.complete(process, "final-read-all", pairs if type == "ok" else None, type=type, node=node)
    return i


def test_final_read_all_is_one_final_read_per_key():
    h = H()
    h.op(1, "write", 1, key="a")
    h.op(2, "write", 2, key="b")
    i1 = _final_all(h, 100, "n1", [["a", 1], ["b", 2]])
    _final_all(h, 101, "n2", [["a", 1], ["b", None]])    # n2 never got b
    _final_all(h, 102, "n3", [["a", 1], ["b", 2]], type="fail")
    expanded = expand_final_reads(h.ops)
    reads = [op for op in expanded if op.f == "final-read"]
    assert len(reads) == 12 and {op.index for op in reads if op.process == 100} == {i1, i1 + 1}
    assert [(op.key, op.value) for op in reads if op.process == 100 and op.type == "ok"] == [("a", 1), ("b", 2)]
    assert expand_final_reads(h.ops[:4]) == h.ops[:4]  # nothing to expand: unchanged
    res = check_convergence(h.ops, datatype="register")
    assert res["valid"] is False
    assert [(a["type"], a["key"]) for a in res["anomalies"]] == [("divergent", "b"), ("lost", "b")]
    assert res["keys"]['"a"']["nodes"].keys() == {"n1", "n2"}  # the failed snapshot counts for no node
    # Twin: every node agrees on every key.
    h2 = H()
    h2.op(1, "write", 1, key="a")
    _final_all(h2, 100, "n1", [["a", 1], ["b", None]])
    _final_all(h2, 101, "n2", [["a", 1], ["b", None]])
    assert check_convergence(h2.ops, datatype="register")["valid"] is True


def test_malformed_final_read_all_is_reported_not_skipped():
    h = H()
    h.op(1, "write", 1, key="a")
    h.invoke(100, "final-read-all", ["a"], node="n1")
    h.complete(100, "final-read-all", "garbage", node="n1")
    res = check_convergence(h.ops, datatype="register")
    assert res["valid"] is False and res["anomalies"][0]["type"] == "unexpected"
