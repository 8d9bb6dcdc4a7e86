"""Linearizability checker: is there one order of the history's ops, respecting real time, that the model accepts?

:func:`check_linearizable` is the entry point. It

- ignores nemesis ops, drops ``fail`` ops (they did not happen), and keeps ``info`` ops (and invokes that never
  completed) pending to the end: they may take effect at any point after their invocation, or never;
- splits the history by key when the model allows it (a kv store is linearizable iff each key is) and judges
  the parts with :mod:`splitbrain.checkers._lin_parts`: in rounds under growing slices of search steps, smallest first, so
  that one hard part can't starve the others; in worker processes once the work is long enough to pay for them
  (``parallel=False`` keeps everything in this process); the first failing part ends the check (``False`` wins
  over ``unknown``), and past the deadline or memory cap the verdict is ``"unknown"`` naming the parts not
  decided -- never ``True`` -- with workers killed at once;
- judges a part with the fastest search that applies (:mod:`splitbrain.checkers._lin_fast`: parts without unknown-outcome
  ops, natively where built) and otherwise with the general search of :mod:`splitbrain.checkers._lin_search`;
- explains a ``False`` with data for people and for the report: the op that could not be placed, the state(s)
  the model could be in, the longest prefix that could be linearized with the states it went through, and a
  small window of ops around the failure.

It must not raise for a history it can't linearize or for running out of time: those are verdicts. It raises
BadInput for an unknown model name.
"""

from __future__ import annotations

import dataclasses
import time
from operator import attrgetter
from typing import Any, Sequence

from splitbrain.checkers._lin_fast import fast_verdict, native_available
from splitbrain.checkers._lin_dfs import dfs_verdict
from splitbrain.checkers._lin_parts import OutOfSlice, run_parts
from splitbrain.checkers._lin_search import Failure, Interrupted, Prepared, _Budget, prepare, search
from splitbrain.checkers._lin_window import windowed_failure
from splitbrain.checkers.models import UNKNOWN, Model, get_model
from splitbrain.history.ops import NEMESIS, Op
from splitbrain.history.verdict import UNKNOWN as VERDICT_UNKNOWN

#: Configurations kept per (state, pending ops) by the first, narrow pass over histories with unknown-outcome ops.
FIRST_PASS_KEEP = 1
#: Seconds the evidence of a failure may take beyond the verdict (within the check's deadline). The verdict-only
#: search of a long key can be a hundred times faster than the traced search that gathers the evidence (a one-key
#: 100,000-op history: under a second against about a minute); :mod:`splitbrain.checkers._lin_window` runs the
#: trace only after the last certain point before the failure, which mostly avoids that, but where it does not
#: apply (unknown-outcome ops, no certain point) the limit stands: past it ``false`` comes without its evidence.
EXPLAIN_LIMIT_S = 10.0

_TYPE_OF = attrgetter("type")


def check_linearizable(history: Sequence[Op], model: "str | Model", *, time_limit: float | None = None,
                       memory_limit_mb: int | None = None, parallel: bool = True, split: bool = True,
                       explain: bool = True, label: str | None = None) -> dict:
    """Check ``history`` against ``model`` (a name from ``splitbrain.checkers.models.MODELS`` or a Model).

    Returns ``{"valid": True | False | "unknown", "checker": "linearizable", "model": name, "ops": client op
    pairs, "check_ms": float, "partitions": n}``; when unknown also ``"cause"`` and ``"unknown_parts"`` (the keys
    not decided, at most 20, and ``"unknown_count"``); when false ``"failure"`` (the failing part found first,
    explained) and ``"failures"`` (the failing parts found: the check stops at the first, so usually one).
    ``time_limit`` is in seconds of wall time for the whole check, worker processes included;
    ``memory_limit_mb`` caps how much the searching processes may grow. The evidence of a failure is searched
    for at most :data:`EXPLAIN_LIMIT_S` seconds (the verdict stands without it). ``split=False`` checks a
    splittable model as one object (slower; for comparison). ``explain=False`` leaves out the evidence of a
    failure (its ``failure`` then names only the key): the verdict alone, as Porcupine's ``CheckOperations``
    gives it.
    ``label`` is what the explanation calls the object (the name the user chose, e.g. the ``register`` workload
    checked with the cas-register model); by default the model's name. ``"model"`` in the result is always the
    model's name.
    """
    t0 = time.perf_counter()
    m = get_model(model)
    deadline = None if time_limit is None else time.monotonic() + max(0.0, time_limit)
    client = [op for op in history if op.process != NEMESIS]
    pairs = list(map(_TYPE_OF, client)).count("invoke")
    if not m.splittable and not m.keyed and split and _several_keys(client):
        # Several keys under a one-object model (a register per key, as jepsen.independent's histories): one
        # object per key, as Jepsen's independent checker does. Checked whole, the keys' values would mix.
        m = dataclasses.replace(m, splittable=True, per_key=m)
    if m.splittable and split:
        sub_model, keyed = (m.per_key or m), False
        parts = list(m.partition(client).items())
    else:
        sub_model, keyed = m, m.keyed
        parts = [(None, client)]
    if label and label != sub_model.name:
        sub_model = dataclasses.replace(sub_model, name=label)  # the name is only ever used in explanations
    result: dict[str, Any] = {"valid": True, "checker": "linearizable", "model": m.name, "ops": pairs,
                              "check_ms": 0.0, "partitions": len(parts)}

    def judge(i: int, budget: _Budget) -> bool:
        return _part_verdict(parts[i][1], sub_model, keyed, budget)

    outcomes = run_parts(len(parts), [len(p[1]) for p in parts], judge, deadline=deadline,
                         memory_limit_mb=memory_limit_mb, parallel=parallel and len(parts) > 1)
    failing = sorted(i for i, o in outcomes.items() if o["valid"] is False)
    undecided = [i for i in range(len(parts)) if outcomes.get(i, {}).get("valid") == VERDICT_UNKNOWN]
    if failing:
        result["valid"] = False
        failures = []
        for i in failing:
            key, ops = parts[i]
            budget_end = time.monotonic() + EXPLAIN_LIMIT_S
            failures.append(_explain_part(key, ops, sub_model, keyed,
                                          budget_end if deadline is None else min(deadline, budget_end),
                                          memory_limit_mb) if explain
                            else {"key": _jsonable_key(key), "explanation": f"key {key!r} is not linearizable"})
        result["failure"] = failures[0]
        result["failures"] = failures
    elif undecided:
        result["valid"] = VERDICT_UNKNOWN
        result["cause"] = outcomes[undecided[0]].get("cause", "not decided")
        result["unknown_parts"] = [_jsonable_key(parts[i][0]) for i in undecided[:20]]
        result["unknown_count"] = len(undecided)
        if parts[0][0] is not None:
            shown = ", ".join(repr(parts[i][0]) for i in undecided[:5])
            more = f" and {len(undecided) - 5} more" if len(undecided) > 5 else ""
            result["cause"] += f" on key(s) {shown}{more}"
    result["check_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return result


def _part_verdict(ops: list[Op], model: Model, keyed: bool, budget: _Budget) -> bool:
    """Whether one part is linearizable (verdict only, no evidence). Raises Interrupted when out of budget."""
    # Most parts (a kv key, a register without crashes) have no unknown-outcome op: a lean verdict-only search
    # answers those; the general search handles the rest.
    if not keyed:
        if model.extends is not None and not native_available():
            # with the model's shortcuts the depth-first search beats the breadth-first one on every part tried
            v = dfs_verdict(ops, model, budget)
            if v is not None:
                return v
        try:
            v = fast_verdict(ops, model, budget)
        except OutOfSlice:
            if native_available():
                raise  # the native search goes depth-first itself before its breadth-first pass
            # The breadth-first search keeps every order of many overlapping writes; depth-first often finds
            # one at once (and is exact too). Same slice for it; if both run out, the part waits for a larger one.
            budget.checks = 0
            v = dfs_verdict(ops, model, budget)
        if v is not None:
            return v
    prep = prepare(ops, model, keyed=keyed)
    # First a narrow search (see search's ``keep``): when it finds a linearization that is a proof; when it
    # fails having dropped configurations, only the full search can tell.
    fail = search(prep, model, budget, keep=FIRST_PASS_KEEP)
    if fail is not None and fail.pruned:
        fail = search(prep, model, budget)
    return fail is None


def _explain_part(key, ops: list[Op], model: Model, keyed: bool, deadline, mem_mb) -> dict:
    """The evidence for a part known to fail: a traced search, under what is left of the deadline."""
    budget = _Budget(deadline, mem_mb)
    try:
        prep = prepare(ops, model, keyed=keyed)
        fail = None if keyed else windowed_failure(ops, prep, model, budget)
        if fail is None:
            fail = search(prep, model, budget, trace=True, keep=FIRST_PASS_KEEP)
            if fail is not None and fail.pruned:
                fail = search(prep, model, budget, trace=True)
    except (Interrupted, MemoryError) as e:
        cause = e.cause if isinstance(e, Interrupted) else "memory limit reached"
        return {"key": _jsonable_key(key),
                "explanation": f"key {key!r} is not linearizable (the search proved it; its evidence was not "
                               f"gathered in the time allowed: {cause})" if key is not None else
                               f"the history is not linearizable (its evidence was not gathered: {cause})"}
    if fail is None:  # cannot happen: the verdict search and the traced one are the same search
        raise AssertionError("the traced search linearized a part the verdict search could not")
    return _explain(key, ops, prep, model, keyed, fail)


# --- explaining a failure ---------------------------------------------------------------------------------------

def _unwind(path) -> list[tuple[int, Any]]:
    out = []
    while path is not None:
        path, oid, state = path
        out.append((oid, state))
    out.reverse()
    return out


def _explain(key, ops: list[Op], prep: Prepared, model: Model, keyed: bool, fail: Failure) -> dict:
    x = fail.op
    configs = list(fail.configs.items())
    # The configuration with the most ops placed gives the longest linearizable prefix.
    best_path: list[tuple[int, Any]] = []
    best_state = model.init()
    for (state, _mask), path in configs:
        p = _unwind(path)
        if not best_path or len(p) > len(best_path):
            best_path, best_state = p, state
    if not configs:
        best_state = model.init()
    states_now = _uniq(model.describe_state(s) for (s, _m), _p in configs)
    reach = _uniq(model.describe_state(s) for s in fail.reachable) if fail.reachable else states_now
    if keyed and isinstance(x.input, tuple):
        key = x.input[0]
    what = model.describe_op(x.f, x.input, x.output)
    where = f"process {x.process}, history indices {x.invoke}-{x.complete}"
    key_txt = f" on key {key!r}" if key is not None else ""
    if x.read_only:
        why = (f"while it was pending the {model.name} could only hold {_join(reach)}, never a value that makes "
               f"it legal")
    else:
        why = (f"it is not legal in any state the {model.name} could reach before it returned ({_join(reach)}), "
               f"in any order of the ops still pending")
    explanation = f"{what} ({where}){key_txt} could not be linearized: {why}."
    if len(states_now) <= 4:
        explanation += f" Before it, the state was {' or '.join(states_now)}."
    return {
        "key": _jsonable_key(key),
        "explanation": explanation,
        "window": _window(prep, fail),
        "longest_prefix": [prep.ops[oid].invoke for oid, _s in best_path],
        "states": [model.to_json(s) for _oid, s in best_path],
        "stuck_op": x.invoke,
        "state_before": model.to_json(best_state),
    }


def _window(prep: Prepared, fail: Failure) -> list[int]:
    """History indices (invokes and completions) of the ops that overlap the stretch from the last point where
    the state was certain to the failing return: that stretch alone, started in that state, fails too."""
    call_ev: dict[int, int] = {}
    ret_ev: dict[int, int] = {}
    for e, (is_ret, oid) in enumerate(prep.events):
        (ret_ev if is_ret else call_ev)[oid] = e
    lo, hi = fail.last_certain_event, fail.event
    limit = fail.op.complete if fail.op.complete is not None else float("inf")
    idx: set[int] = set()
    for op in prep.ops:
        c = call_ev.get(op.id)
        if c is None or c > hi:
            continue
        r = ret_ev.get(op.id, float("inf"))
        # lo - 1 is the return that made the state certain: keep that op, it shows how the state came to be.
        if r < lo - 1:
            continue
        idx.add(op.invoke)
        if op.complete is not None and op.complete <= limit:
            idx.add(op.complete)
    return sorted(idx)


def _uniq(items) -> list[str]:
    seen: dict[str, None] = {}
    for s in items:
        seen.setdefault(s, None)
    return sorted(seen)


def _join(items: list[str]) -> str:
    if len(items) > 6:
        items = items[:6] + [f"... ({len(items) - 6} more)"]
    return ", ".join(items) if items else "nothing"


def _several_keys(ops: Sequence[Op]) -> bool:
    """Do ``ops`` touch more than one ``key``? (Stops at the second.)"""
    first = ops[0].key if ops else None
    return any(op.key != first for op in ops)


def _jsonable_key(k):
    if isinstance(k, tuple):
        return [_jsonable_key(x) for x in k]
    return k


__all__ = ["check_linearizable", "UNKNOWN"]
