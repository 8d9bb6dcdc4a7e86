"""The reductions that keep one long, busy key cheap (checkers/_lin_native.c, and the pure checkers/_lin_dfs.py
with the models' ``extends``/``grows`` hints: reads committed at once, dead states, unobservable states merged into
one junk state, the depth-first pass's compact cache key) are exact:
every native way of searching agrees with the brute force and the pure-Python search, on random histories of
the kv (append, put, cas, get) and register models -- with few values (so states repeat and values collide)
and with unique ones (so reads pin orders) -- linearizable or not; and the generated one-key histories that
used to come back unknown get their verdicts, natively and on the pure path."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers import _lin_fast
from splitbrain.checkers._lin_dfs import dfs_verdict
from splitbrain.checkers._lin_fast import native_verdict
from splitbrain.checkers._lin_definite import definite_verdict
from splitbrain.checkers._lin_search import _Budget, prepare, search
from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.checkers.models import get_model
from splitbrain.checkers.simulate import (corrupt_one_read, kv_history, register_history, stale_register_read,
                                          swap_two_appends)
from test_brute_force import _perturb, brute_force, simulate

pytestmark = pytest.mark.skipif(_lin_fast._lin_native is None, reason="the native core is not built")

NO_LIMIT = _Budget(None, None)


def _native_ways(part, model) -> list:
    """Default (depth-first, then breadth-first if needed), breadth-first only, depth-first only."""
    return [native_verdict(part, model, NO_LIMIT), native_verdict(part, model, NO_LIMIT, dfs_cap=0),
            native_verdict(part, model, NO_LIMIT, dfs_cap=-1)]


def _pure(part, model) -> bool:
    return search(prepare(part, model), model, NO_LIMIT) is None


@pytest.mark.timeout(180)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 11), model=st.sampled_from(["register", "cas-register", "kv"]),
       procs=st.integers(1, 5), p_info=st.sampled_from([0.0, 0.0, 0.2]), perturb=st.integers(0, 2),
       unique=st.booleans(), kv_ops=st.sampled_from([("get", "append"), ("get", "put", "append"),
                                                      ("get", "put", "append", "cas")]))
def test_every_native_search_agrees_with_brute_force_on_one_key(seed, n, model, procs, p_info, perturb, unique,
                                                               kv_ops):
    h = simulate(seed, model, n, procs=procs, p_info=p_info, values=() if unique else (0, 1), keys=("k",),
                 kv_ops=kv_ops)
    rng = random.Random(seed)
    for _ in range(perturb):
        h = _perturb(rng, h, model)
    m = get_model(model)
    part, pm = h, (m.per_key or m)
    expected = brute_force(part, model)
    got = _native_ways(part, pm)
    assert got == [expected] * 3, (got, expected, [op.to_dict() for op in part])
    assert _pure(part, pm) is expected
    for v in (definite_verdict(part, pm, NO_LIMIT), dfs_verdict(part, pm, NO_LIMIT)):
        assert v is None or v is expected


@pytest.mark.timeout(300)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["kv", "register", "cas-register"]),
       n=st.integers(20, 80), think=st.sampled_from([0.5, 1.0]), corrupt=st.sampled_from([None, "stale", "swap"]))
def test_native_agrees_with_the_pure_search_on_generated_one_key_histories(seed, kind, n, think, corrupt):
    # 6 clients that pause between ops: the pure search (without the native reductions) stays fast on these
    if kind == "kv":
        h = kv_history(seed, n, clients=6, keys=1, think=think, p_put=0.15)
    else:
        h = register_history(seed, n, clients=6, think=think, p_cas=0.0 if kind == "register" else 0.3)
    try:
        if corrupt == "stale":
            h = corrupt_one_read(h, seed)[0] if kind == "kv" else stale_register_read(h, seed)[0]
        elif corrupt == "swap" and kind == "kv":
            h = swap_two_appends(h, seed)[0]
    except ValueError:
        pass  # too short to corrupt: checked as it is
    m = get_model(kind)
    pm = m.per_key or m
    expected = _pure(h, pm)
    assert _native_ways(h, pm) == [expected] * 3
    assert dfs_verdict(h, pm, NO_LIMIT) is expected   # the pure depth-first search with the model's hints


def test_reads_committed_at_once_and_stale_reads():
    from splitbrain.history.ops import Op
    # w1; then a read of 1 invoked while 1 is held (committed there at once), a write of 2 and a read of 2 that
    # returns first: w1, read 1, w2, read 2 is a linearization.
    h = [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, "ok", "write", 1),
         Op(2, 2, 1, "invoke", "read", None), Op(3, 3, 2, "invoke", "write", 2),
         Op(4, 4, 3, "invoke", "read", None), Op(5, 5, 3, "ok", "read", 2),
         Op(6, 6, 1, "ok", "read", 1), Op(7, 7, 2, "ok", "write", 2)]
    # the same, but the read of 1 is invoked after the read of 2 returned: stale, no linearization
    stale = h[:2] + [Op(2, 2, 2, "invoke", "write", 2), Op(3, 3, 3, "invoke", "read", None),
                     Op(4, 4, 3, "ok", "read", 2), Op(5, 5, 1, "invoke", "read", None),
                     Op(6, 6, 1, "ok", "read", 1), Op(7, 7, 2, "ok", "write", 2)]
    reg = get_model("register")
    assert brute_force(h, "register") is True and brute_force(stale, "register") is False
    assert _native_ways(h, reg) == [True] * 3
    assert _native_ways(stale, reg) == [False] * 3


def test_only_states_every_append_takes_are_merged():
    # After a put of an int no read observes the key, but an append is still illegal there (it is legal on any
    # str, and on the junk state unobservable str states become): not linearizable.
    from splitbrain.history.ops import Op
    h = [Op(0, 0, 0, "invoke", "put", 5, key="k"), Op(1, 1, 0, "ok", "put", 5, key="k"),
         Op(2, 2, 0, "invoke", "append", "a", key="k"), Op(3, 3, 0, "ok", "append", "a", key="k")]
    kv = get_model("kv").per_key
    assert brute_force(h, "kv") is False and _pure(h, kv) is False
    assert _native_ways(h, kv) == [False] * 3
    put_str = [Op(0, 0, 0, "invoke", "put", "5", key="k"), Op(1, 1, 0, "ok", "put", "5", key="k")] + h[2:]
    assert _native_ways(put_str, kv) == [True] * 3


@pytest.mark.timeout(240)
@pytest.mark.parametrize("pure", [False, True], ids=["native", "pure"])
@pytest.mark.parametrize("kind", ["kv", "cas-register"])
def test_a_long_busy_key_gets_a_verdict(kind, pure, monkeypatch):
    if pure:
        monkeypatch.setenv("SPLITBRAIN_PURE", "1")
    # 20,000 ops of one key, 10 clients: overlapping appends (or writes) that a later put wipes out before any
    # read saw them used to make every order a configuration of its own (unknown after a minute at this size);
    # the limit here is generous, the bench has the times.
    if kind == "kv":
        h = kv_history(7, 20_000, clients=10, keys=1, think=1.0)
        bad = corrupt_one_read(h, 7)[0]
    else:
        h = register_history(7, 20_000, clients=10, think=1.0)
        bad = stale_register_read(h, 7)[0]
    assert check_linearizable(h, kind, time_limit=120, explain=False)["valid"] is True
    assert check_linearizable(bad, kind, time_limit=120, explain=False)["valid"] is False


def _mixed_kv_history(seed: int, n: int, procs: int) -> list:
    """Random one-key kv ops with values of mixed types (str and int puts, str appends and now and then an int
    one, compare-and-sets, reads of random values) and random outcomes: mostly not linearizable."""
    from splitbrain.history.ops import Op
    rng = random.Random(seed)
    vals = ["", "a", "b", "ab", "ba", "aa", 5, None, "a5"]
    ops: list = []
    idle, nxt, pending, inv = list(range(procs)), 100, {}, 0
    while inv < n or pending:
        if inv < n and idle and (not pending or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            r = rng.random()
            f, v = (("get", None) if r < 0.35 else ("put", rng.choice(["a", "b", 5, "ab"])) if r < 0.55 else
                    ("append", rng.choice(["a", "b", "5", 7])) if r < 0.85 else
                    ("cas", [rng.choice(vals), rng.choice(vals)]))
            pending[p] = (f, v)
            inv += 1
            ops.append(Op(len(ops), len(ops), p, "invoke", f, v, key="k"))
            continue
        p = rng.choice(list(pending))
        f, v = pending.pop(p)
        r = rng.random()
        if r < 0.15:
            ops.append(Op(len(ops), len(ops), p, "info", f, v, key="k"))
            idle.append(nxt)
            nxt += 1
            continue
        t = "fail" if r < 0.22 and f != "get" else "ok"
        ops.append(Op(len(ops), len(ops), p, t, f, rng.choice(vals) if f == "get" and t == "ok" else v, key="k"))
        idle.append(p)
    return ops


@pytest.mark.timeout(180)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), procs=st.integers(1, 4))
def test_every_native_search_agrees_on_kv_values_of_mixed_types(seed, n, procs):
    h = _mixed_kv_history(seed, n, procs)
    kv = get_model("kv").per_key
    expected = brute_force(h, "kv")
    assert _native_ways(h, kv) == [expected] * 3, [op.to_dict() for op in h]
    assert _pure(h, kv) is expected
