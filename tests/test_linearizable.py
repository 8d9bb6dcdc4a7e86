"""check_linearizable: verdicts on simulated histories (valid by construction, then broken on purpose), the
failure evidence, the deadline and memory cap (unknown, never true, never a hang), and the worker processes."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splitbrain.checkers.linearizable as lin
import splitbrain.checkers._lin_parts as lin_parts
from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.history.ops import Op
from test_brute_force import NEVER, simulate

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _replace(history, i, **changes):
    op = history[i]
    d = {"index": op.index, "time": op.time, "process": op.process, "type": op.type, "f": op.f,
         "value": op.value, "key": op.key, **changes}
    return history[:i] + [Op(**d)] + history[i + 1:]


def _ok_reads(history):
    return [i for i, op in enumerate(history) if op.type == "ok" and op.f in ("read", "get")]


@pytest.mark.timeout(120)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), procs=st.integers(1, 6),
       model=st.sampled_from(["register", "cas-register", "kv"]))
def test_simulated_atomic_objects_are_valid_and_a_never_written_read_is_not(seed, n, procs, model):
    h = simulate(seed, model, n, procs=procs, p_info=0.1, p_fail=0.1, keys=("a", "b", "c"))
    r = check_linearizable(h, model, parallel=False)
    assert r["valid"] is True, r
    assert r["ops"] == sum(1 for op in h if op.type == "invoke")
    reads = _ok_reads(h)
    if reads:
        i = random.Random(seed).choice(reads)
        bad = _replace(h, i, value=NEVER[model])
        r = check_linearizable(bad, model, parallel=False)
        assert r["valid"] is False
        f = r["failure"]
        assert f["stuck_op"] is not None and h[f["stuck_op"]].process == h[i].process
        assert i in f["window"] and f["explanation"]
        assert len(f["states"]) == len(f["longest_prefix"])


def _stale_read_candidates(history, model):
    """Reads that could be changed to a value overwritten before they began: the value's only writer (an ok
    write) completed before an ok write of another value, which completed before the read was invoked."""
    comp, inv_of = {}, {}
    open_ = {}
    for i, op in enumerate(history):
        if op.type == "invoke":
            open_[op.process] = i
        else:
            comp[open_[op.process]] = i
            inv_of[i] = open_.pop(op.process)
    writers = {}  # value -> list of (invoke pos, completion pos or None, type) of every op that may write it
    for i, op in enumerate(history):
        if op.type != "invoke" or op.f not in ("write", "put", "cas"):
            continue
        c = comp.get(i)
        ctype = history[c].type if c is not None else "info"
        if ctype == "fail":
            continue
        v = op.value[1] if op.f == "cas" else op.value
        writers.setdefault((op.key, v), []).append((i, c, ctype, op.f))
    out = []
    for r in _ok_reads(history):
        rinv = inv_of[r]
        key = history[r].key
        for (k, v), ws in writers.items():
            if k != key or len(ws) != 1 or ws[0][2] != "ok" or ws[0][3] == "cas" or v == history[r].value:
                continue
            w1c = ws[0][1]
            for (k2, v2), ws2 in writers.items():
                if k2 != key or v2 == v:
                    continue
                if any(t == "ok" and f != "cas" and i2 > w1c and c2 < rinv for i2, c2, t, f in ws2):
                    out.append((r, v))
                    break
    return out


@pytest.mark.timeout(120)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4, 60), procs=st.integers(1, 5),
       model=st.sampled_from(["register", "cas-register", "kv"]))
def test_a_read_of_an_overwritten_value_is_invalid(seed, n, procs, model):
    # Unique written values make "overwritten" unambiguous; kv uses only get/put for the same reason.
    rng = random.Random(seed)
    h = simulate(seed, model, n, procs=procs, values=(), keys=("a", "b"), kv_ops=("get", "put"))
    cands = _stale_read_candidates(h, model)
    if model == "kv":
        cands = [(r, v) for r, v in cands if all(op.f in ("get", "put") for op in h if op.key == h[r].key)]
    if not cands:
        return
    r, v = rng.choice(cands)
    res = check_linearizable(_replace(h, r, value=v), model, parallel=False)
    assert res["valid"] is False, (r, v, [op.to_dict() for op in h])


def test_failure_evidence_names_the_stale_read():
    h = [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, "ok", "write", 1),
         Op(2, 2, 1, "invoke", "write", 2), Op(3, 3, 1, "ok", "write", 2),
         Op(4, 4, 2, "invoke", "read", None), Op(5, 5, 2, "ok", "read", 1),
         Op(6, 6, "nemesis", "invoke", "start-partition", {"n1": ["n2"]})]
    r = check_linearizable(h, "register")
    assert r["valid"] is False and r["ops"] == 3 and r["partitions"] == 1
    f = r["failure"]
    assert f["stuck_op"] == 4 and f["state_before"] == 2 and f["key"] is None
    assert f["longest_prefix"] == [0, 2] and f["states"] == [1, 2]
    assert f["window"] == [2, 3, 4, 5]
    assert "read -> 1" in f["explanation"] and "2" in f["explanation"]
    assert r["failures"] == [f]


def test_explanation_names_the_object_as_the_user_chose_it():
    h = [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, "ok", "write", 1),
         Op(2, 2, 1, "invoke", "write", 2), Op(3, 3, 1, "ok", "write", 2),
         Op(4, 4, 2, "invoke", "read", None), Op(5, 5, 2, "ok", "read", 1)]
    plain = check_linearizable(h, "cas-register")
    assert "the cas-register could only hold" in plain["failure"]["explanation"]
    from splitbrain.harness.workloads import get_workload
    for options, model in (({}, "cas-register"), ({"cas": False}, "register")):
        r = get_workload("register").checkers(options)["linearizable"](h)
        assert r["model"] == model                                  # the model really used
        assert "the register could only hold 2" in r["failure"]["explanation"]
        assert "cas-register" not in r["failure"]["explanation"]


def test_info_ops_may_take_effect_late_or_never_and_fail_ops_never():
    def h(t):
        return [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, t, "write", 1),
                Op(2, 2, 1, "invoke", "read", None), Op(3, 3, 1, "ok", "read", None),
                Op(4, 4, 1, "invoke", "read", None), Op(5, 5, 1, "ok", "read", 1)]
    assert check_linearizable(h("info"), "register")["valid"] is True
    assert check_linearizable(h("fail"), "register")["valid"] is False
    assert check_linearizable(h("ok"), "register")["valid"] is False
    # an invoke that never completes is pending to the end, like info
    assert check_linearizable(h("info")[:1] + h("info")[2:], "register")["valid"] is True


def _hard_history(n_writers: int, key=None, start=0) -> list[Op]:
    """Expensive for every exact search: many overlapping writes of distinct values, then a read of a value none
    wrote (not linearizable, but only every order of the writes -- as sets of them for the breadth-first search,
    as paths for the depth-first one -- shows it)."""
    ops = []
    for p in range(n_writers):
        ops.append(Op(start + len(ops), start + len(ops), p, "invoke", "write", p, key=key))
    for p in range(n_writers):
        ops.append(Op(start + len(ops), start + len(ops), p, "ok", "write", p, key=key))
    ops.append(Op(start + len(ops), start + len(ops), 1000, "invoke", "read", None, key=key))
    ops.append(Op(start + len(ops), start + len(ops), 1000, "ok", "read", -1, key=key))
    return ops


@pytest.mark.timeout(60)
def test_a_tiny_deadline_gives_unknown_within_a_second():
    h = _hard_history(22)
    t = time.monotonic()
    r = check_linearizable(h, "register", time_limit=0.2, parallel=False)
    assert time.monotonic() - t < 1.2
    assert r["valid"] == "unknown" and r["cause"] == "time limit reached"


@pytest.mark.timeout(60)
def test_the_deadline_holds_with_worker_processes(monkeypatch):
    monkeypatch.setattr(lin_parts, "PARALLEL_AFTER_S", -1.0)  # hand every part to the workers at once
    h = []
    for k in range(4):
        h += _hard_history(22, key=f"k{k}", start=len(h))
    h = [Op(i, i, op.process + 100 * int(op.key[1:]), op.type, op.f, op.value, key=op.key)
         for i, op in enumerate(h)]
    t = time.monotonic()
    r = check_linearizable(h, "kv", time_limit=0.3)
    assert time.monotonic() - t < 1.3
    assert r["valid"] == "unknown" and r["partitions"] == 4


@pytest.mark.timeout(60)
def test_workers_give_the_same_verdicts(monkeypatch):
    monkeypatch.setattr(lin_parts, "PARALLEL_AFTER_S", -1.0)
    h = simulate(7, "kv", 200, procs=5, keys=("a", "b", "c", "d"))
    assert check_linearizable(h, "kv")["valid"] is True
    i = _ok_reads(h)[-1]
    bad = _replace(h, i, value=NEVER["kv"])
    r = check_linearizable(bad, "kv")
    assert r["valid"] is False and r["failure"]["key"] == h[i].key


@pytest.mark.timeout(60)
def test_memory_cap_gives_unknown():
    r = check_linearizable(_hard_history(22), "register", memory_limit_mb=5, time_limit=20, parallel=False)
    assert r["valid"] == "unknown" and r["cause"] == "memory limit reached"


def test_unknown_model_is_bad_input():
    from splitbrain.history.errors import BadInput
    with pytest.raises(BadInput):
        check_linearizable([], "no-such-model")


def test_empty_history_is_valid():
    assert check_linearizable([], "cas-register")["valid"] is True
