"""The evidence of a failing part found on a window (checkers/_lin_window.py) is the full traced search's: same
failing op and event, same configurations (states and ops placed, and how many), same states reachable, same last
certain event, same explanation; and on one long busy key (kv and register) it comes with the ``false`` verdict
instead of being given up at the evidence time limit, while valid keys stay valid."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers._lin_search import _Budget, prepare, search
from splitbrain.checkers._lin_window import certain_points, windowed_failure
from splitbrain.checkers.linearizable import _explain, check_linearizable
from splitbrain.checkers.models import get_model
from splitbrain.checkers.simulate import corrupt_one_read, kv_history, register_history, stale_register_read

NO_LIMIT = _Budget(None, None)
KV = get_model("kv").per_key or get_model("kv")
REGISTER = get_model("register")


def _norm(fail) -> set:
    """A failure's configurations as (state, ids of the pending ops placed, length of the path): bit numbers
    and which of several equally long orders a path holds may differ (see the module doc)."""
    out = set()
    for (s, mask), path in fail.configs.items():
        ids = frozenset(o.id for b, o in fail.bit_op.items() if mask & b)
        n = 0
        while path is not None:
            path = path[0]
            n += 1
        out.add((s, ids, n))
    return out


def _bad(kind: str, seed: int, n: int, clients: int) -> tuple[list, object]:
    if kind == "kv":
        h = corrupt_one_read(kv_history(seed, n, clients=clients, keys=1, think=1.0), seed)[0]
        return list(get_model("kv").partition(h).values())[0], KV
    return stale_register_read(register_history(seed, n, clients=clients, p_cas=0.0), seed)[0], REGISTER


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["kv", "register"]), seed=st.integers(0, 10_000), n=st.integers(30, 400),
       clients=st.integers(2, 6))
def test_window_evidence_equals_the_full_search(kind, seed, n, clients):
    try:
        part, model = _bad(kind, seed, n, clients)
    except ValueError:
        return                                     # no read to make stale in so short a history
    prep = prepare(part, model)
    full = search(prep, model, NO_LIMIT, trace=True)
    if full is None:
        return                                     # the corruption happened to stay linearizable
    win = windowed_failure(part, prep, model, NO_LIMIT, min_events=0)
    if win is None:
        return                                     # no certain point before the failure: the full search runs
    assert (win.event, win.op.id, win.last_certain_event) == (full.event, full.op.id, full.last_certain_event)
    assert win.reachable == full.reachable
    assert _norm(win) == _norm(full)
    a = _explain(None, part, prep, model, False, full)
    b = _explain(None, part, prep, model, False, win)
    assert (a["explanation"], a["window"], a["stuck_op"]) == (b["explanation"], b["window"], b["stuck_op"])
    assert sorted(a["longest_prefix"]) == sorted(b["longest_prefix"])


def test_windows_are_used_on_generated_histories():
    """The shortcut applies often enough to matter (or the test above would only compare skipped cases)."""
    used = 0
    for seed in range(12):
        part, model = _bad("kv" if seed % 2 else "register", seed, 300, 4)
        prep = prepare(part, model)
        if search(prep, model, NO_LIMIT) is not None and windowed_failure(part, prep, model, NO_LIMIT,
                                                                           min_events=0) is not None:
            used += 1
    assert used >= 4


def test_certain_points_are_found_on_a_busy_key():
    part, model = _bad("register", 3, 2000, 10)
    points = certain_points(prepare(part, model), model)
    assert len(points) > 5
    assert [p[0] for p in points] == sorted({p[0] for p in points})


@pytest.mark.parametrize("kind", ["kv", "register"])
def test_busy_key_gets_its_evidence(kind):
    """One key, 10 clients, 20,000 ops, one stale read: the whole-key traced search takes longer than the
    evidence limit here (about 20 s for kv); the window gives the evidence with the verdict."""
    if kind == "kv":
        h = corrupt_one_read(kv_history(1, 20_000, clients=10, keys=1, think=1.0), 1)[0]
    else:
        h = stale_register_read(register_history(1, 20_000, clients=10, p_cas=0.0), 1)[0]
    res = check_linearizable(h, kind, time_limit=120, parallel=False)
    assert res["valid"] is False
    f = res["failure"]
    assert f.get("longest_prefix"), f["explanation"]
    assert f["stuck_op"] in f["window"]


@pytest.mark.parametrize("kind", ["kv", "register"])
def test_busy_key_valid_stays_valid(kind):
    h = kv_history(1, 20_000, clients=10, keys=1, think=1.0) if kind == "kv" else \
        register_history(1, 20_000, clients=10, p_cas=0.0)
    assert check_linearizable(h, kind, time_limit=120, parallel=False)["valid"] is True
