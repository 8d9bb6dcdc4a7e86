"""The native verdict-only search (checkers/_lin_native.c behind checkers/_lin_fast.py) against the brute force
and the pure-Python searches: every built-in model (compiled to native transitions, and through its Python
functions), a plugin-style model, unknown-outcome ops, wide concurrency, the reference corpus, the deadline, and
the switch to the pure path."""

from __future__ import annotations

import csv
import dataclasses
import os
import random
import subprocess
import sys
import time
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain.checkers import _lin_fast
from splitbrain.checkers._lin_fast import fast_verdict, native_available, native_verdict
from splitbrain.checkers._lin_definite import definite_verdict
from splitbrain.checkers._lin_search import Interrupted, _Budget, prepare, search
from splitbrain.checkers.models import MODELS, UNKNOWN, Model, get_model
from splitbrain.history.ops import Op
from splitbrain.history.importers import load_history
from test_brute_force import _perturb, brute_force, random_history, simulate

from tests._paths import CORPUS

pytestmark = pytest.mark.skipif(_lin_fast._lin_native is None, reason="the native core is not built")

NO_LIMIT = _Budget(None, None)


def _parts(history, name):
    m = get_model(name)
    return (list(m.partition(history).values()) if m.splittable else [history]), (m.per_key or m)


def _python_search(part, model) -> bool:
    """The pure-Python full search (splitbrain.checkers._lin_search), the checker's reference path."""
    prep = prepare(part, model)
    return search(prep, model, NO_LIMIT) is None


def _all_native(part, model) -> list:
    """Every native way of answering: default, breadth-first only, depth-first only, and through the model's
    Python functions (generic path) with both passes."""
    return [native_verdict(part, model, NO_LIMIT),
            native_verdict(part, model, NO_LIMIT, dfs_cap=0),
            native_verdict(part, model, NO_LIMIT, dfs_cap=-1),
            native_verdict(part, model, NO_LIMIT, dfs_cap=0, generic=True),
            native_verdict(part, model, NO_LIMIT, dfs_cap=-1, generic=True)]


def _agree(history, name):
    parts, model = _parts(history, name)
    for p in parts:
        expected = brute_force(p, name)
        got = _all_native(p, model)
        assert got == [expected] * len(got), (got, expected, [op.to_dict() for op in p])
        assert _python_search(p, model) is expected
        pv = definite_verdict(p, model, NO_LIMIT)
        assert pv is None or pv is expected


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 9), model=st.sampled_from(sorted(MODELS)),
       procs=st.integers(1, 5), p_info=st.sampled_from([0.0, 0.1, 0.4]), perturb=st.integers(0, 2),
       n_values=st.integers(1, 3))
def test_native_agrees_with_brute_force_and_python_on_every_model(seed, n, model, procs, p_info, perturb, n_values):
    h = simulate(seed, model, n, procs=procs, p_info=p_info, values=tuple(range(n_values)), keys=("a", "b"))
    rng = random.Random(seed)
    for _ in range(perturb):
        h = _perturb(rng, h, model)
    _agree(h, model)


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 13), model=st.sampled_from(["register", "cas-register", "kv"]),
       p_info=st.sampled_from([0.3, 0.6]), n_values=st.integers(1, 3), procs=st.integers(2, 6),
       p_read=st.sampled_from([None, 0.5]), perturb=st.integers(0, 2))
def test_native_agrees_with_brute_force_on_info_heavy_histories(seed, n, model, p_info, n_values, procs, p_read,
                                                               perturb):
    h = simulate(seed, model, n, procs=procs, p_info=p_info, values=tuple(range(n_values)), keys=("a", "b"),
                 p_read=p_read)
    rng = random.Random(seed)
    for _ in range(perturb):
        h = _perturb(rng, h, model)
    _agree(h, model)


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 14), model=st.sampled_from(["register", "cas-register"]),
       p_info=st.sampled_from([0.0, 0.2, 0.4, 0.6]), n_values=st.integers(1, 3), procs=st.integers(1, 5))
def test_native_agrees_with_brute_force_on_random_register_histories(seed, n, model, p_info, n_values, procs):
    _agree(random_history(seed, model, n, procs=procs, values=tuple(range(n_values)), p_info=p_info), model)


def _within(seconds, fn, *args, **kw):
    """fn(*args, budget, **kw) under a deadline; None when it passes it (the comparison is then skipped)."""
    try:
        return fn(*args, _Budget(time.monotonic() + seconds, None), **kw)
    except Interrupted:
        return None


@pytest.mark.timeout(300)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), model=st.sampled_from(["register", "cas-register", "kv"]),
       p_info=st.sampled_from([0.0, 0.2]), perturb=st.integers(0, 3))
def test_native_agrees_with_python_on_wide_concurrency(seed, model, p_info, perturb):
    # 10 processes, 40 ops: too many orders for the brute force. The depth-first pass alone (exact when not
    # capped) is compared with the breadth-first one alone and with the pure-Python searches. A breadth-first
    # search may give up (None) on info-heavy parts, and a slow reference is skipped: never a wrong verdict.
    h = simulate(seed, model, 40, procs=10, p_info=p_info, values=(0, 1, 2), keys=("a",))
    rng = random.Random(seed)
    for _ in range(perturb):
        h = _perturb(rng, h, model)
    parts, m = _parts(h, model)
    for p in parts:
        dfs = native_verdict(p, m, NO_LIMIT, dfs_cap=-1)
        assert dfs in (True, False)
        assert native_verdict(p, m, NO_LIMIT) is dfs
        others = [_within(10, native_verdict, p, m, dfs_cap=0), _within(10, definite_verdict, p, m)]
        if p_info:
            others.append(_within(10, lambda part, model, budget: search(prepare(part, model), model, budget)
                                  is None, p, m))
        assert all(v is None or v is dfs for v in others), (dfs, others, [op.to_dict() for op in p])


# --- a model from a plugin: not built in, so it runs through its Python functions --------------------------------

def _stack_step(state, f, i, o):
    """A stack of values (a tuple): push / pop (returns the top, or None when empty) / peek (read-only)."""
    if f == "push":
        return True, state + (i,)
    if f == "pop":
        if o is UNKNOWN:
            return True, state[:-1]
        if not state:
            return o is None, state
        return state[-1] == o, state[:-1]
    if f == "peek":
        if o is UNKNOWN:
            return True, state
        return (state[-1] if state else None) == o, state
    return False, state


STACK = Model("stack", tuple, _stack_step, read_only=lambda f, i, o: f == "peek")


def _stack_history(seed: int, n: int, procs: int, p_info: float) -> list[Op]:
    """A stack run by concurrent clients, each op taking effect at a random point while pending."""
    rng = random.Random(seed)
    state: list = []
    ops: list[Op] = []
    pending: dict[int, list] = {}
    idle = list(range(procs))
    nxt = procs
    invoked = 0
    while invoked < n or pending:
        if invoked < n and idle and (not pending or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            f = rng.choice(["push", "pop", "peek"])
            v = invoked if f == "push" else None
            pending[p] = [f, v, False, None]
            invoked += 1
            ops.append(Op(len(ops), len(ops), p, "invoke", f, v))
            continue
        p = rng.choice(list(pending))
        x = pending[p]
        if not x[2]:
            x[2] = True
            if x[0] == "push":
                state.append(x[1])
                x[3] = x[1]
            elif x[0] == "pop":
                x[3] = state.pop() if state else None
            else:
                x[3] = state[-1] if state else None
            if rng.random() < 0.5:
                continue
        del pending[p]
        if rng.random() < p_info:
            ops.append(Op(len(ops), len(ops), p, "info", x[0], x[1]))
            idle.append(nxt)
            nxt += 1
        else:
            ops.append(Op(len(ops), len(ops), p, "ok", x[0], x[3]))
            idle.append(p)
    return ops


@pytest.mark.timeout(120)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 9), procs=st.integers(1, 4),
       p_info=st.sampled_from([0.0, 0.3]), perturb=st.booleans())
def test_a_plugin_model_runs_natively_and_agrees_with_brute_force(seed, n, procs, p_info, perturb):
    assert _lin_fast._model_code(STACK) == 0
    h = _stack_history(seed, n, procs, p_info)
    if perturb:
        ok = [i for i, op in enumerate(h) if op.type == "ok" and op.f in ("pop", "peek")]
        if ok:
            i = random.Random(seed).choice(ok)
            h = h[:i] + [dataclasses.replace(h[i], value=99)] + h[i + 1:]
    with patch.dict(MODELS, {"stack": STACK}):
        expected = brute_force(h, "stack")
    got = [native_verdict(h, STACK, NO_LIMIT), native_verdict(h, STACK, NO_LIMIT, dfs_cap=0),
           native_verdict(h, STACK, NO_LIMIT, dfs_cap=-1)]
    assert got == [expected] * 3, (got, expected, [op.to_dict() for op in h])
    assert _python_search(h, STACK) is expected


def test_built_in_models_are_compiled_and_others_are_not():
    assert [_lin_fast._model_code(get_model(n).per_key or get_model(n)) for n in
            ("register", "cas-register", "kv")] == [1, 2, 3]
    assert _lin_fast._model_code(get_model("counter")) == 0
    # a built-in step with other hints runs through the model's functions
    assert _lin_fast._model_code(dataclasses.replace(get_model("register"), overwrites=lambda f, i, o: False)) == 0


# --- the reference corpus ------------------------------------------------------------------------------------------

ROWS = list(csv.DictReader(open(CORPUS / "expected.csv"))) if (CORPUS / "expected.csv").exists() else []


@pytest.mark.timeout(120)
@pytest.mark.skipif(not ROWS, reason="the reference corpus is not on this machine")
def test_every_corpus_file_gets_its_verdict_natively():
    wrong = []
    for row in ROWS:
        h = [op for op in load_history(CORPUS / row["file"]) if op.process != "nemesis"]
        parts, m = _parts(h, row["model"])
        for how in ({}, {"dfs_cap": 0}, {"generic": True}):
            verdicts = [native_verdict(p, m, NO_LIMIT, **how) for p in parts]
            got = False if False in verdicts else (None if None in verdicts else True)
            if got is not (row["linearizable"] == "true"):
                wrong.append((row["file"], how, got))
    assert not wrong


# --- limits and switches -------------------------------------------------------------------------------------------

def _concurrent_writes(n: int) -> list[Op]:
    """n processes invoke distinct writes at once, then complete in order: the breadth-first closure at the first
    return enumerates subsets of n - 1 writes."""
    ops = [Op(i, i, i, "invoke", "write", i) for i in range(n)]
    ops += [Op(n + i, n + i, i, "ok", "write", i) for i in range(n)]
    return ops


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dfs_cap", [0, -1], ids=["breadth-first", "depth-first"])
def test_the_deadline_interrupts_a_long_native_search(dfs_cap):
    # a read of a value nobody wrote, after 60 concurrent writes: every subset of them is tried first (the
    # depth-first pass through the model's Python functions, which does not see that the read's value is never
    # written: compiled, it finds that at once)
    h = _concurrent_writes(60) + [Op(120, 120, 99, "invoke", "read", None), Op(121, 121, 99, "ok", "read", 12345)]
    budget = _Budget(time.monotonic() + 0.3, None)
    t = time.monotonic()
    with pytest.raises(Interrupted):
        native_verdict(h, get_model("register"), budget, dfs_cap=dfs_cap, generic=dfs_cap != 0)
    assert time.monotonic() - t < 1.5


def test_more_pending_ops_than_mask_bits_gives_up():
    h = _concurrent_writes(_lin_fast._lin_native.MASK_BITS + 2)
    assert native_verdict(h, get_model("register"), NO_LIMIT, dfs_cap=0) is None


def test_more_unknown_outcome_ops_than_mask_bits_leaves_the_depth_first_pass_alone():
    # 140 crashed writes hold their bits to the end: the breadth-first search can't run (None), the depth-first
    # pass answers (it tries no crashed write right before another overwrite, so not every subset of them)
    n = _lin_fast._lin_native.MASK_BITS + 12
    h = [op for i in range(n) for op in (Op(2 * i, 2 * i, i, "invoke", "write", i), Op(2 * i + 1, 2 * i + 1, i,
                                                                                      "info", "write", i))]
    reg = get_model("register")

    def read(v):
        return h + [Op(2 * n, 2 * n, n, "invoke", "read", None), Op(2 * n + 1, 2 * n + 1, n, "ok", "read", v)]

    assert [native_verdict(read(v), reg, NO_LIMIT) for v in (n - 1, 5, 0, n + 5)] == [True, True, True, False]
    assert native_verdict(read(5), reg, NO_LIMIT, dfs_cap=0) is None


def test_unknown_outcomes_are_handled_natively_and_not_by_the_pure_path(monkeypatch):
    # a write that crashed (info) explains a later read of its value; without it the read is impossible
    h = [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, "info", "write", 1),
         Op(2, 2, 1, "invoke", "read", None), Op(3, 3, 1, "ok", "read", 1)]
    reg = get_model("register")
    assert native_available()
    assert fast_verdict(h, reg, NO_LIMIT) is True
    assert fast_verdict(h[2:], reg, NO_LIMIT) is False
    monkeypatch.setenv("SPLITBRAIN_PURE", "1")
    assert not native_available()
    assert fast_verdict(h, reg, NO_LIMIT) is None          # definite_verdict steps aside for unknown outcomes
    assert fast_verdict(h[2:], reg, NO_LIMIT) is False


def test_a_model_error_propagates():
    def bad_step(state, f, i, o):
        raise RuntimeError("model bug")

    m = Model("broken", lambda: 0, bad_step)
    with pytest.raises(RuntimeError, match="model bug"):
        native_verdict(_concurrent_writes(2), m, NO_LIMIT)


@pytest.mark.timeout(120)
def test_generated_fifty_client_kv_histories():
    from splitbrain.checkers.simulate import corrupt_one_read, kv_history
    kv = get_model("kv")
    for seed in (1, 3):
        h = kv_history(seed, 600, clients=50, keys=10, p_put=0.2, think=0.1, tail=0.1)
        for corrupt in (False, True):
            parts = kv.partition(corrupt_one_read(h, seed)[0] if corrupt else h)
            verdicts = [fast_verdict(p, kv.per_key, _Budget(time.monotonic() + 30, None)) for p in parts.values()]
            assert verdicts.count(False) == (1 if corrupt else 0) and None not in verdicts, (seed, verdicts)


def test_the_pure_path_without_the_native_module():
    # a fresh interpreter where the module can't be imported: fast_verdict is definite_verdict
    code = ("import sys; sys.modules['splitbrain.checkers._lin_native'] = None\n"
            "from splitbrain.checkers import _lin_fast\n"
            "assert _lin_fast._lin_native is None and not _lin_fast.native_available()\n"
            "from splitbrain.checkers._lin_search import _Budget\n"
            "from splitbrain.checkers.models import get_model\n"
            "from splitbrain.history.ops import Op\n"
            "h = [Op(0, 0, 0, 'invoke', 'write', 1), Op(1, 1, 0, 'ok', 'write', 1)]\n"
            "assert _lin_fast.fast_verdict(h, get_model('register'), _Budget(None, None)) is True\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(__file__)),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
