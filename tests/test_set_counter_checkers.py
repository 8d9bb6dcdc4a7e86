"""The set, counter, stats checkers and verdict composition, on hand-built and generated histories."""

import random

from hypothesis import given, settings, strategies as st

from splitbrain.checkers.compose import combine, run_checker
from splitbrain.checkers.counter import check_counter
from splitbrain.checkers.sets import check_set
from splitbrain.checkers.stats import check_stats
from splitbrain.history.ops import Op


class H:
    """A tiny history builder: ops get dense indices and increasing times."""

    def __init__(self):
        self.ops = []

    def add(self, p, ty, f, v=None):
        self.ops.append(Op(len(self.ops), len(self.ops) * 10, p, ty, f, v))
        return self

    def call(self, p, f, v, ty="ok", out=None):
        self.add(p, "invoke", f, v)
        return self.add(p, ty, f, v if out is None else out)


def test_set_all_present_is_valid():
    h = H().call(0, "add", 1).call(0, "add", 2).call(1, "read", None, out=[1, 2])
    r = check_set(h.ops)
    assert r["valid"] is True and r["ok_count"] == 2


def test_set_lost_element():
    h = H().call(0, "add", 1).call(0, "add", 2).call(1, "read", None, out=[1])
    r = check_set(h.ops)
    assert r["valid"] is False and r["lost"][0]["element"] == 2 and "missing" in r["explanation"]


def test_set_unexpected_and_failed_add_present():
    h = H().call(0, "add", 1, ty="fail").call(1, "read", None, out=[1, 9])
    r = check_set(h.ops)
    assert r["valid"] is False and r["unexpected"] == [9] and r["failed_but_present"] == [1]


def test_set_stale_only_matters_when_linearizable():
    h = H().call(0, "add", 1).call(1, "read", None, out=[]).call(1, "read", None, out=[1])
    assert check_set(h.ops)["valid"] is True
    r = check_set(h.ops, linearizable=True)
    assert r["valid"] is False and r["stale_count"] == 1


def test_set_info_add_may_or_may_not_appear():
    h = H().call(0, "add", 1, ty="info").call(1, "read", None, out=[])
    assert check_set(h.ops)["valid"] is True
    h = H().call(0, "add", 1, ty="info").call(1, "read", None, out=[1]).call(1, "read", None, out=[1])
    r = check_set(h.ops)
    assert r["valid"] is True and r["recovered_count"] == 1


def test_counter_bounds():
    h = H().call(0, "add", 1).call(0, "add", 2).call(1, "read", None, out=3)
    assert check_counter(h.ops)["valid"] is True
    h = H().call(0, "add", 1).call(0, "add", 2).call(1, "read", None, out=4)
    r = check_counter(h.ops)
    assert r["valid"] is False and r["errors"][0]["upper"] == 3


def test_counter_concurrent_add_allows_both():
    h = H().add(0, "invoke", "add", 5).call(1, "read", None, out=5).call(1, "read", None, out=0)
    h.add(0, "info", "add", 5)
    assert check_counter(h.ops)["valid"] is True


def simulate_counter(seed, n_ops):
    """An atomic counter with random concurrency, crashes and failures; returns its history."""
    rng = random.Random(seed)
    ops, value, t = [], 0, 0
    pending = {}  # process -> (f, delta, effect applied?)
    procs = list(range(3))

    def emit(p, ty, f, v):
        nonlocal t
        t += 1
        ops.append(Op(len(ops), t, p, ty, f, v))

    for _ in range(n_ops):
        slot = rng.randrange(3)
        p = procs[slot]
        if p not in pending:
            f = rng.choice(["add", "read"])
            delta = rng.randint(-3, 5) if f == "add" else None
            emit(p, "invoke", f, delta)
            pending[p] = [f, delta, False, None]
        else:
            st_ = pending[p]
            if not st_[2] and rng.random() < 0.7:  # take effect atomically, somewhere in the op's lifetime
                if st_[0] == "add":
                    value += st_[1]
                else:
                    st_[3] = value
                st_[2] = True
                continue
            outcome = rng.choice(["ok", "ok", "ok", "info", "fail"]) if st_[2] else rng.choice(["fail", "info"])
            if st_[0] == "add" and outcome == "fail" and st_[2]:
                outcome = "info"
            if st_[0] == "read":
                if outcome == "ok" and st_[2]:
                    emit(p, "ok", "read", st_[3])
                else:
                    emit(p, "fail", "read", None)
            else:
                emit(p, outcome, "add", st_[1])
                if outcome == "info":
                    procs[slot] = p + 3
            del pending[p]
    return ops


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(5, 120))
def test_counter_simulated_atomic_counter_is_valid(seed, n):
    assert check_counter(simulate_counter(seed, n))["valid"] is True


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(5, 120))
def test_counter_impossible_read_is_invalid(seed, n):
    ops = simulate_counter(seed, n)
    total_abs = sum(abs(o.value) for o in ops if o.f == "add" and o.type == "invoke") + 1
    reads = [i for i, o in enumerate(ops) if o.f == "read" and o.type == "ok"]
    if not reads:
        return
    i = reads[len(reads) // 2]
    o = ops[i]
    ops[i] = Op(o.index, o.time, o.process, o.type, o.f, total_abs + 10)
    assert check_counter(ops)["valid"] is False


def test_stats_and_composition():
    h = H().call(0, "read", None, ty="fail")
    assert check_stats(h.ops)["valid"] == "unknown"
    h.call(0, "read", None, out=1)
    assert check_stats(h.ops)["by_f"]["read"] == {"ok": 1, "fail": 1, "info": 0}
    assert combine([True, "unknown", False]) is False
    assert combine([True, "unknown"]) == "unknown"
    assert combine([True, True]) is True
    assert combine([]) is True


def test_a_crashing_checker_is_unknown_never_true():
    def boom():
        raise ValueError("bug")
    r = run_checker("x", boom)
    assert r["valid"] == "unknown" and "ValueError" in r["cause"]
    assert run_checker("y", lambda: {"valid": "maybe"})["valid"] == "unknown"
