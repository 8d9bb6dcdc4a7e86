"""The checker against a brute-force checker (every order of the ops) on small random histories, for every
model. Also home of the simulated atomic objects that tests/test_linearizable.py uses to make histories.

The simulator's semantics are written here independently of checkers/models.py, so a valid simulated history
judged invalid points at the model or the search; the brute force shares only ``model.step``.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splitbrain.checkers.linearizable as lin
from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.checkers.models import MODELS, UNKNOWN
from splitbrain.history.ops import Op, validate_history

# --- simulated atomic objects ---------------------------------------------------------------------------------

NEVER = {"register": 99, "cas-register": 99, "kv": "never-written", "counter": -999, "set": [999],
         "queue": 999, "mutex": None}


def _gen_op(rng: random.Random, model: str, values, keys, uid, kv_ops, p_read=None):
    """(f, key, invoke value) for a random op of ``model``; ``uid`` makes written values unique if wanted.
    ``p_read`` (registers only) is the chance of a read; by default every kind of op is equally likely."""
    v = rng.choice(values) if values else uid
    if model in ("register", "cas-register") and p_read is not None and rng.random() < p_read:
        return ("read", None, None)
    if model == "register":
        return ("write", None, v) if p_read is not None else rng.choice([("read", None, None), ("write", None, v)])
    if model == "cas-register":
        cas = ("cas", None, [rng.choice(values or [uid - 1, uid - 2]), v])
        return rng.choice([("write", None, v), cas] if p_read is not None else [("read", None, None),
                                                                                  ("write", None, v), cas])
    if model == "kv":
        k = rng.choice(keys)
        f = rng.choice(kv_ops)
        return {"get": ("get", k, None), "put": ("put", k, f"p{v}"), "append": ("append", k, f"[{v}]"),
                "cas": ("cas", k, [rng.choice(["", f"p{v}", "p0"]), f"c{v}"])}[f]
    if model == "counter":
        return rng.choice([("read", None, None), ("add", None, rng.choice([1, 2, 5]))])
    if model == "set":
        return rng.choice([("read", None, None), ("add", None, v)])
    if model == "queue":
        return rng.choice([("dequeue", None, None), ("enqueue", None, v)])
    return rng.choice([("acquire", None, None), ("release", None, None)])


def _apply(model: str, state, f, key, value):
    """Run an op atomically. Returns (took effect?, completion value, new state); state is a plain value/dict."""
    if model in ("register", "cas-register"):
        if f == "read":
            return True, state, state
        if f == "write":
            return True, value, value
        return (True, value, value[1]) if state == value[0] else (False, value, state)
    if model == "kv":
        cur = state.get(key, "")
        if f == "get":
            return True, cur, state
        if f == "put":
            new = value
        elif f == "append":
            new = cur + value
        else:
            if cur != value[0]:
                return False, value, state
            new = value[1]
        return True, value, {**state, key: new}
    if model == "counter":
        return (True, state, state) if f == "read" else (True, value, state + value)
    if model == "set":
        return (True, sorted(state), state) if f == "read" else (True, value, state | {value})
    if model == "queue":
        if f == "enqueue":
            return True, value, state + (value,)
        return (True, state[0], state[1:]) if state else (True, None, state)
    if f == "acquire":
        return (False, None, state) if state else (True, None, True)
    return (True, None, False) if state else (False, None, state)


_INIT = {"register": None, "cas-register": None, "kv": {}, "counter": 0, "set": frozenset(), "queue": (),
         "mutex": False}


def simulate(seed: int, model: str, n_ops: int, *, procs: int = 3, p_info: float = 0.1, p_fail: float = 0.1,
             p_unfinished: float = 0.05, values=(0, 1, 2, 3), keys=("a", "b"),
             kv_ops=("get", "put", "append", "cas"), p_read: float | None = None) -> list[Op]:
    """A history of ``n_ops`` ops against a correct atomic ``model`` object with random concurrency.

    Each op takes effect at one random moment between its invoke and its completion (so the history is
    linearizable by construction); an op may instead fail without effect, crash (``info``, with or without
    effect; its process retires), or never complete.
    """
    rng = random.Random(seed)
    state = _INIT[model]
    ops: list[Op] = []
    idle = list(range(procs))
    next_proc = procs
    pending: dict[int, dict] = {}
    invoked = 0

    def emit(process, type_, f, value, key):
        ops.append(Op(len(ops), len(ops), process, type_, f, value, key=key))

    while invoked < n_ops or pending:
        choices = []
        if invoked < n_ops and idle:
            choices.append("invoke")
        if any(not p["done"] for p in pending.values()):
            choices.append("apply")
        if pending:
            choices.append("complete")
        c = rng.choice(choices)
        if c == "invoke":
            p = idle.pop(rng.randrange(len(idle)))
            f, key, value = _gen_op(rng, model, list(values), keys, 1000 + invoked, kv_ops, p_read)
            invoked += 1
            pending[p] = {"f": f, "key": key, "value": value, "done": False, "effect": False, "out": None}
            emit(p, "invoke", f, value, key)
        elif c == "apply":
            p = rng.choice([q for q, x in pending.items() if not x["done"]])
            x = pending[p]
            x["done"] = True
            if rng.random() >= p_fail:
                x["effect"], x["out"], state = _apply(model, state, x["f"], x["key"], x["value"])
        else:
            p = rng.choice(list(pending))
            x = pending.pop(p)
            r = rng.random()
            if invoked >= n_ops and r < p_unfinished:
                continue  # never completes: counts as info
            if r < p_info:
                emit(p, "info", x["f"], None, x["key"])
                idle.append(next_proc)
                next_proc += 1
                continue
            if not x["done"]:
                x["done"] = True
                if rng.random() >= p_fail:
                    x["effect"], x["out"], state = _apply(model, state, x["f"], x["key"], x["value"])
            emit(p, "ok" if x["effect"] else "fail", x["f"], x["out"] if x["effect"] else x["value"], x["key"])
            idle.append(p)
    validate_history(ops)
    return ops


def random_history(seed: int, model: str, n_ops: int, *, procs: int = 3, values=(0, 1), p_info: float = 0.4,
                   p_fail: float = 0.1) -> list[Op]:
    """A register or cas-register history with random concurrency and random read results (not from any object,
    so often not linearizable): the search meets reads no op explains and unknown-outcome ops that may or may
    not explain them. A process whose op ends ``info`` retires, as a crashed client does."""
    rng = random.Random(seed)
    ops: list[Op] = []
    idle = list(range(procs))
    next_proc = procs
    pending: dict[int, tuple] = {}
    invoked = 0
    while invoked < n_ops or pending:
        if invoked < n_ops and idle and (not pending or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            r = rng.random()
            if r < 0.4:
                f, v = "read", None
            elif r < 0.75 or model == "register":
                f, v = "write", rng.choice(values)
            else:
                f, v = "cas", [rng.choice(values), rng.choice(values)]
            pending[p] = (f, v)
            invoked += 1
            ops.append(Op(len(ops), len(ops), p, "invoke", f, v))
            continue
        p = rng.choice(list(pending))
        f, v = pending.pop(p)
        r = rng.random()
        if r < p_info:
            ops.append(Op(len(ops), len(ops), p, "info", f, v))
            idle.append(next_proc)
            next_proc += 1
            continue
        if r < p_info + p_fail and f != "read":
            ops.append(Op(len(ops), len(ops), p, "fail", f, v))
        else:
            ops.append(Op(len(ops), len(ops), p, "ok", f, rng.choice(list(values) + [None]) if f == "read" else v))
        idle.append(p)
    validate_history(ops)
    return ops


# --- brute force ----------------------------------------------------------------------------------------------

def brute_force(history: list[Op], model_name: str) -> bool:
    """Is there an order of the ops, respecting real time, that the model accepts? Tries them all. ``fail`` ops
    are left out; ``info`` ops and invokes with no completion may be placed anywhere after their invoke or not
    at all."""
    m = MODELS[model_name]
    comp: dict[int, Op | None] = {}
    open_: dict = {}
    invokes = []
    for op in history:
        if op.process == "nemesis":
            continue
        if op.type == "invoke":
            open_[op.process] = op
            invokes.append(op)
            comp[op.index] = None
        else:
            comp[open_.pop(op.process).index] = op
    items = []  # (invoke index, completion index or inf, f, input, output, required)
    for inv in invokes:
        c = comp[inv.index]
        if c is not None and c.type == "fail":
            continue
        inp = (inv.key, inv.value) if m.keyed else inv.value
        if c is None or c.type == "info":
            items.append((inv.index, float("inf"), inv.f, inp, UNKNOWN, False))
        else:
            items.append((inv.index, c.index, inv.f, inp, c.value, True))
    required = sum(1 for it in items if it[5])
    dead: set = set()   # (placed, state) known to lead nowhere: the outcome depends on nothing else

    def rec(placed: int, state, n_required: int) -> bool:
        if n_required == required:
            return True
        if (placed, state) in dead:
            return False
        # the earliest completion among unplaced required ops bounds which ops may go next
        bound = min(it[1] for j, it in enumerate(items) if not placed >> j & 1 and it[5])
        for j, (inv, _c, f, i, o, req) in enumerate(items):
            if placed >> j & 1 or inv > bound:
                continue
            legal, new = m.step(state, f, i, o)
            if legal and rec(placed | 1 << j, new, n_required + req):
                return True
        dead.add((placed, state))
        return False

    return rec(0, m.init(), 0)


def _perturb(rng: random.Random, history: list[Op], model: str) -> list[Op]:
    """Change one completion's value (or turn an ok into fail) so the history is often, not always, invalid."""
    idx = [i for i, op in enumerate(history) if op.type == "ok"]
    if not idx:
        return history
    i = rng.choice(idx)
    op = history[i]
    if rng.random() < 0.3:
        new = Op(op.index, op.time, op.process, "fail", op.f, op.value, key=op.key)
    else:
        choices = {"register": [None, 0, 1, 2], "cas-register": [None, 0, 1, 2], "kv": ["", "p0", "p1", "[0]"],
                   "counter": [0, 1, 2, 3], "set": [[], [0], [0, 1]], "queue": [None, 0, 1], "mutex": [None]}
        new = Op(op.index, op.time, op.process, op.type, op.f, rng.choice(choices[model]), key=op.key)
    return history[:i] + [new] + history[i + 1:]


@pytest.mark.timeout(120)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), model=st.sampled_from(sorted(MODELS)),
       perturb=st.booleans())
def test_checker_agrees_with_brute_force(seed, n, model, perturb):
    h = simulate(seed, model, n, procs=3, values=(0, 1, 2), keys=("a", "b"))
    if perturb:
        h = _perturb(random.Random(seed), h, model)
    expected = brute_force(h, model)
    got = check_linearizable(h, model, parallel=False)
    assert got["valid"] is expected, (got, [op.to_dict() for op in h])
    if model == "kv":  # the whole store checked as one object must agree too
        assert check_linearizable(h, model, parallel=False, split=False)["valid"] is expected


def test_brute_force_itself_on_known_histories():
    # write 1 completes, then a read of nil starts: stale. With the write crashed (info) it is fine.
    def h(wtype):
        return [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 0, wtype, "write", 1),
                Op(2, 2, 1, "invoke", "read", None), Op(3, 3, 1, "ok", "read", None)]
    assert brute_force(h("ok"), "register") is False
    assert brute_force(h("info"), "register") is True
    assert brute_force(h("fail"), "register") is True


# Histories full of unknown-outcome ops with few distinct values: the search treats interchangeable ones as one
# class, leaves out overwrites that nothing could follow and never tries one right before another overwrite
# (checkers/_lin_search.py). Each of those is checked here against the brute force, which does none of it.

@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 13), model=st.sampled_from(["register", "cas-register", "kv"]),
       p_info=st.sampled_from([0.3, 0.6]), n_values=st.integers(1, 3), procs=st.integers(2, 5),
       p_read=st.sampled_from([None, 0.5]), perturb=st.integers(0, 2))
def test_checker_agrees_with_brute_force_on_info_heavy_histories(seed, n, model, p_info, n_values, procs, p_read,
                                                                 perturb):
    h = simulate(seed, model, n, procs=procs, p_info=p_info, values=tuple(range(n_values)), keys=("a", "b"),
                 p_read=p_read)
    rng = random.Random(seed)
    for _ in range(perturb):
        h = _perturb(rng, h, model)
    expected = brute_force(h, model)
    got = check_linearizable(h, model, parallel=False)
    assert got["valid"] is expected, (got, [op.to_dict() for op in h])


@pytest.mark.timeout(120)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 14), model=st.sampled_from(["register", "cas-register"]),
       p_info=st.sampled_from([0.2, 0.4, 0.6]), n_values=st.integers(1, 3), procs=st.integers(1, 4))
def test_checker_agrees_with_brute_force_on_random_register_histories(seed, n, model, p_info, n_values, procs):
    h = random_history(seed, model, n, procs=procs, values=tuple(range(n_values)), p_info=p_info)
    expected = brute_force(h, model)
    got = check_linearizable(h, model, parallel=False)
    assert got["valid"] is expected, (got, [op.to_dict() for op in h])


# Crashed compare-and-sets with repeated values (a partitioned Raft register makes these): the counts of used
# unknown-outcome ops form antichains, which the checker's first, narrow pass cuts to ``FIRST_PASS_KEEP``
# configurations per state and pending set (checkers/linearizable.py) before the full search decides a failure.
# With keep=0 the narrow pass drops every configuration that used such an op, so the fallback is exercised often.

@pytest.mark.timeout(120)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4, 14), p_info=st.sampled_from([0.3, 0.5, 0.7]),
       n_values=st.integers(2, 3), procs=st.integers(2, 6), p_read=st.sampled_from([None, 0.3, 0.5]),
       perturb=st.integers(0, 2), simulated=st.booleans(), keep=st.sampled_from([0, 1]))
def test_checker_agrees_with_brute_force_on_info_heavy_cas_histories(seed, n, p_info, n_values, procs, p_read,
                                                                     perturb, simulated, keep):
    values = tuple(range(n_values))
    if simulated:
        h = simulate(seed, "cas-register", n, procs=procs, p_info=p_info, values=values, p_read=p_read)
        rng = random.Random(seed)
        for _ in range(perturb):
            h = _perturb(rng, h, "cas-register")
    else:
        h = random_history(seed, "cas-register", n, procs=procs, values=values, p_info=p_info)
    expected = brute_force(h, "cas-register")
    saved = lin.FIRST_PASS_KEEP
    lin.FIRST_PASS_KEEP = keep
    try:
        got = check_linearizable(h, "cas-register", parallel=False)
    finally:
        lin.FIRST_PASS_KEEP = saved
    assert got["valid"] is expected, (got, [op.to_dict() for op in h])


# The lean verdict-only search (checkers/_lin_definite.py) answers histories with no unknown-outcome op by itself
# when they are linearizable, so a wrong True from it would never reach the full search: it is checked against
# the brute force directly, on each key's part as the checker gives it, and must step aside (None) for info ops.

@pytest.mark.timeout(120)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), model=st.sampled_from(sorted(MODELS)),
       procs=st.integers(1, 5), perturb=st.integers(0, 2), n_values=st.integers(1, 3), rand=st.booleans())
def test_definite_verdict_agrees_with_brute_force(seed, n, model, procs, perturb, n_values, rand):
    from splitbrain.checkers._lin_definite import definite_verdict
    from splitbrain.checkers._lin_search import _Budget
    from splitbrain.checkers.models import get_model
    values = tuple(range(n_values))
    if rand and model in ("register", "cas-register"):   # random read results: often not linearizable
        h = random_history(seed, model, n, procs=procs, values=values, p_info=0.0)
    else:
        h = simulate(seed, model, n, procs=procs, p_info=0.0, p_unfinished=0.0, values=values)
        rng = random.Random(seed)
        for _ in range(perturb):
            h = _perturb(rng, h, model)
    m = get_model(model)
    parts = list(m.partition(h).values()) if m.splittable else [h]
    for p in parts:
        got = definite_verdict(p, m.per_key or m, _Budget(None, None))
        if got is not None:  # None only for reads legal in several states (a counter's, say): full search
            assert got is brute_force(p, model), (got, [op.to_dict() for op in p])


def test_definite_verdict_steps_aside_for_unknown_outcomes():
    from splitbrain.checkers._lin_definite import definite_verdict
    from splitbrain.checkers._lin_search import _Budget
    from splitbrain.checkers.models import get_model
    w = [Op(0, 0, 0, "invoke", "write", 1), Op(2, 2, 1, "invoke", "read", None), Op(3, 3, 1, "ok", "read", 1)]
    reg = get_model("register")
    assert definite_verdict(w + [Op(1, 1, 0, "ok", "write", 1)], reg, _Budget(None, None)) is True
    assert definite_verdict(w + [Op(1, 1, 0, "fail", "write", 1)], reg, _Budget(None, None)) is False
    assert definite_verdict(w + [Op(1, 1, 0, "info", "write", 1)], reg, _Budget(None, None)) is None
    assert definite_verdict(w, reg, _Budget(None, None)) is None   # never completed
