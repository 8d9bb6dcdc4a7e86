"""The part scheduler of the linearizability checker: no part starves the others, the first False ends the check,
the deadline holds with workers, and nothing is left behind (checkers/_lin_parts.py)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splitbrain.checkers._lin_parts as lin_parts
from splitbrain.checkers._lin_parts import FIRST_SLICE_CHECKS, SLICE_GROWTH, run_parts
from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.checkers.simulate import corrupt_one_read, kv_history
from splitbrain.history.ops import Op

FOREVER = None


def _fake_judge(costs: list[int | None], verdicts: list[bool], spent: list[int]):
    """A judge whose part i needs ``costs[i]`` budget checks (None: never ends) and then answers verdicts[i];
    every check it makes is counted in ``spent[0]``."""
    def judge(i, budget):
        n = 0
        while costs[i] is None or n < costs[i]:
            budget.check()
            spent[0] += 1
            n += 1
        return verdicts[i]
    return judge


def _bound(n_parts: int, cost: int) -> int:
    """Checks spent at most before a part needing ``cost`` checks is decided: every part gets the same slices,
    which grow geometrically, so the total is a constant factor of ``n_parts * cost``."""
    slice_ = FIRST_SLICE_CHECKS
    total = 0
    while True:
        total += n_parts * slice_
        if slice_ >= cost:
            return total
        slice_ *= SLICE_GROWTH


@pytest.mark.parametrize("perm", list(itertools.permutations(range(4))))
def test_a_failing_part_is_found_whatever_the_order_of_hard_ones(perm):
    # Parts: two that never end, one easy valid, one that fails after 300 checks.
    base_costs = [FOREVER, FOREVER, 5, 300]
    base_verdicts = [True, True, True, False]
    costs = [base_costs[p] for p in perm]
    verdicts = [base_verdicts[p] for p in perm]
    spent = [0]
    out = run_parts(4, [100] * 4, _fake_judge(costs, verdicts, spent), deadline=time.monotonic() + 30,
                    memory_limit_mb=None, parallel=False)
    failing = perm.index(3)
    assert out[failing] == {"valid": False}
    assert spent[0] <= _bound(4, 300)
    # the bound is a small multiple of what the failing part alone needs
    assert spent[0] <= 4 * 4 * 300


def test_smaller_parts_go_first_and_all_valid_parts_are_decided():
    order = []

    def judge(i, budget):
        order.append(i)
        return True

    out = run_parts(3, [30, 10, 20], judge, deadline=None, memory_limit_mb=None, parallel=False)
    assert order == [1, 2, 0] and all(o == {"valid": True} for o in out.values()) and len(out) == 3


def test_past_the_deadline_the_undecided_parts_are_unknown_never_valid():
    spent = [0]
    t = time.monotonic()
    out = run_parts(3, [1, 1, 1], _fake_judge([FOREVER, 3, FOREVER], [True] * 3, spent),
                    deadline=time.monotonic() + 0.3, memory_limit_mb=None, parallel=False)
    assert time.monotonic() - t < 1.3
    assert out[1] == {"valid": True}
    assert out[0]["valid"] == "unknown" and out[2]["valid"] == "unknown"


@pytest.mark.timeout(60)
def test_workers_cancel_the_rest_at_the_first_false_and_leave_no_process(monkeypatch):
    monkeypatch.setattr(lin_parts, "PARALLEL_AFTER_S", -1.0)
    spent = [0]
    t = time.monotonic()
    out = run_parts(4, [1, 2, 3, 4], _fake_judge([FOREVER, FOREVER, FOREVER, 50], [True, True, True, False], spent),
                    deadline=time.monotonic() + 20, memory_limit_mb=None, parallel=True)
    assert out[3] == {"valid": False}
    assert time.monotonic() - t < 10
    assert multiprocessing.active_children() == []


@pytest.mark.timeout(60)
def test_the_deadline_holds_within_a_second_with_workers(monkeypatch):
    monkeypatch.setattr(lin_parts, "PARALLEL_AFTER_S", -1.0)
    t = time.monotonic()
    out = run_parts(3, [1, 2, 3], _fake_judge([FOREVER] * 3, [True] * 3, [0]),
                    deadline=time.monotonic() + 0.5, memory_limit_mb=None, parallel=True)
    assert time.monotonic() - t < 1.5
    assert all(o["valid"] == "unknown" for o in out.values()) and len(out) == 3
    assert multiprocessing.active_children() == []


def test_a_model_that_raises_in_a_worker_is_unknown_not_valid(monkeypatch):
    monkeypatch.setattr(lin_parts, "PARALLEL_AFTER_S", -1.0)

    def judge(i, budget):
        if i == 1:
            raise ValueError("bad model")
        return True

    out = run_parts(2, [1, 2], judge, deadline=time.monotonic() + 20, memory_limit_mb=None, parallel=True)
    assert out[0] == {"valid": True}
    assert out[1]["valid"] == "unknown" and "bad model" in out[1]["cause"]


def _rename_keys(ops: list[Op], mapping: dict) -> list[Op]:
    return [Op(o.index, o.time, o.process, o.type, o.f, o.value, node=o.node, key=mapping.get(o.key, o.key))
            for o in ops]


@pytest.mark.timeout(300)
def test_50_clients_a_stale_read_is_false_whatever_the_order_of_keys():
    h = kv_history(11, 1000, clients=50, keys=10, think=0.5)
    assert check_linearizable(h, "kv", time_limit=60)["valid"] is True
    bad, i = corrupt_one_read(h, 11)
    bad_key = bad[i].key
    keys = sorted({o.key for o in h})
    for shift in range(len(keys)):
        # The same history with keys renamed, so that the failing key comes at each position of the order.
        mapping = {k: keys[(n + shift) % len(keys)] for n, k in enumerate(keys)}
        r = check_linearizable(_rename_keys(bad, mapping), "kv", time_limit=120)
        assert r["valid"] is False, r.get("cause")
        assert r["failure"]["key"] == mapping[bad_key]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), per_key=st.integers(1, 5), keys=st.integers(1, 10),
       n_ops=st.integers(50, 250))
def test_generated_many_client_histories_are_valid_and_a_stale_read_is_found(seed, per_key, keys, n_ops):
    # Up to 50 clients, about five at a time on a key: the shape of Porcupine's 50-client kv histories. (Thirty
    # overlapping appends on one key are beyond any exact checker: every order of them is a different state.)
    h = kv_history(seed, n_ops, clients=per_key * keys, keys=keys, think=0.5)
    r = check_linearizable(h, "kv", time_limit=60, parallel=False)
    assert r["valid"] is True, r.get("cause")
    try:
        bad, i = corrupt_one_read(h, seed)
    except ValueError:
        return
    r = check_linearizable(bad, "kv", time_limit=60, parallel=False)
    assert r["valid"] is False and r["failure"]["key"] == bad[i].key


def test_unknown_names_the_parts_that_ran_out_of_time():
    ops = []
    # a hard key: many overlapping writes then reads nobody could have seen (see test_linearizable's hard history)
    n = 22
    for p in range(n):
        ops.append(Op(len(ops), len(ops), p, "invoke", "write", p, key="hard"))
    for p in range(n):
        ops.append(Op(len(ops), len(ops), p, "ok", "write", p, key="hard"))
    ops.append(Op(len(ops), len(ops), 99, "invoke", "read", None, key="easy"))
    ops.append(Op(len(ops), len(ops), 99, "ok", "read", None, key="easy"))
    r = check_linearizable(ops, "kv", time_limit=0.3, parallel=False)
    if r["valid"] == "unknown":
        assert r["unknown_parts"] == ["hard"] and "'hard'" in r["cause"]
    else:  # the search may be fast enough to decide it: then it must be right
        assert r["valid"] is True


@pytest.mark.timeout(120)
def test_a_parallel_check_prints_nothing_on_stderr(tmp_path):
    h = kv_history(5, 3000, clients=20, keys=40, mean_latency=0.3)
    path = tmp_path / "h.jsonl"
    with path.open("w") as f:
        for o in h:
            f.write(json.dumps({"index": o.index, "time": o.time, "process": o.process, "type": o.type, "f": o.f,
                                "key": o.key, "value": o.value}) + "\n")
    code = ("import sys, splitbrain.checkers._lin_parts as p; p.PARALLEL_AFTER_S = -1.0\n"
            "from splitbrain.harness.commands.main import main\n"
            f"sys.argv = ['splitbrain', 'check', {str(path)!r}, '--model', 'kv']\n"
            "main()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    assert "valid" in r.stdout


@pytest.mark.timeout(300)
def test_keys_no_search_decides_do_not_hide_a_failing_one():
    # All 50 clients always busy: some keys get a dozen overlapping appends and neither search decides them in
    # seconds. A stale read on another key must still be found, wherever that key comes in the order.
    h = kv_history(1, 1000, clients=50, keys=10)
    easy = min({o.key for o in h}, key=lambda k: sum(1 for o in h if o.key == k))
    bad, i = corrupt_one_read(h, 1, key=easy)
    keys = sorted({o.key for o in h})
    for shift in (0, 3, 7):
        mapping = {k: keys[(n + shift) % len(keys)] for n, k in enumerate(keys)}
        r = check_linearizable(_rename_keys(bad, mapping), "kv", time_limit=120)
        assert r["valid"] is False, r.get("cause")
        assert r["failure"]["key"] == mapping[easy]
