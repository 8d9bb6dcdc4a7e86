"""Linearizability checker: is there one order of the history's ops, respecting real time, that the model accepts?

:func:`check_linearizable` is the entry point. It

- ignores nemesis ops, drops ``fail`` ops (they did not happen), and keeps ``info`` ops (and invokes that never
  completed) pending to the end: they may take effect at any point after their invocation, or never;
- splits the history by key when the model allows it (a kv store is linearizable iff each key is), and checks
  the parts in worker processes when there are several and the work turns out to be long enough to pay for them
  (``parallel=False`` keeps everything in this process);
- answers parts whose ops all completed ok/fail with the lean verdict-only search of :mod:`checkers._lin_plain`
  when they are linearizable, and stops at the first failing part when checking in this process;
- runs the search of :mod:`checkers._lin_search` under a deadline and a memory cap. Past either, the verdict is
  ``"unknown"`` with a ``cause`` -- never ``True`` -- and workers still running are killed;
- explains a ``False`` with data for people and for the report: the op that could not be placed, the state(s)
  the model could be in, the longest prefix that could be linearized with the states it went through, and a
  small window of ops around the failure.

It must not raise for a history it can't linearize or for running out of time: those are verdicts. It raises
BadInput for an unknown model name.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from typing import Any, Sequence

from checkers._lin_plain import plain_verdict
from checkers._lin_search import Failure, Interrupted, Prepared, _Budget, prepare, search
from checkers.models import UNKNOWN, Model, get_model
from harness.history import NEMESIS, Op

#: Sequential work after which the remaining parts go to worker processes (forking costs ~10-30 ms).
PARALLEL_AFTER_S = 0.2
#: Configurations kept per (state, pending ops) by the first, narrow pass over histories with unknown-outcome ops.
FIRST_PASS_KEEP = 1
#: How long past the deadline the parent waits for workers before killing them.
_GRACE_S = 0.5


def check_linearizable(history: Sequence[Op], model: "str | Model", *, time_limit: float | None = None,
                       memory_limit_mb: int | None = None, parallel: bool = True, split: bool = True,
                       label: str | None = None) -> dict:
    """Check ``history`` against ``model`` (a name from ``checkers.models.MODELS`` or a Model).

    Returns ``{"valid": True | False | "unknown", "checker": "linearizable", "model": name, "ops": client op
    pairs, "check_ms": float, "partitions": n}`` plus ``"cause"`` when unknown and ``"failure"`` (the first
    failing part) and ``"failures"`` (every failing part found: parts checked in this process stop at the first
    failing one, so usually just that one; parts handed to workers all report) when false. ``time_limit`` is in
    seconds of wall time for the whole check; ``memory_limit_mb`` caps how much each searching process may grow.
    ``split=False`` checks a splittable model as one object (slower; for comparison). ``label`` is what the
    explanation calls the object (the name the user chose, e.g. the ``register`` workload checked with the
    cas-register model); by default the model's name. ``"model"`` in the result is always the model's name.
    """
    t0 = time.perf_counter()
    m = get_model(model)
    deadline = None if time_limit is None else time.monotonic() + max(0.0, time_limit)
    client = [op for op in history if op.process != NEMESIS]
    pairs = sum(1 for op in client if op.type == "invoke")
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
    outcomes = _run_parts(parts, sub_model, keyed, deadline, memory_limit_mb, parallel and len(parts) > 1)
    failures = [o["failure"] for o in outcomes if o["valid"] is False]
    unknown = [o for o in outcomes if o["valid"] == "unknown"]
    if failures:
        failures.sort(key=lambda f: f["window"][0] if f["window"] else 0)
        result["valid"] = False
        result["failure"] = failures[0]
        result["failures"] = failures
    elif unknown:
        result["valid"] = "unknown"
        result["cause"] = unknown[0]["cause"]
    result["check_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return result


# --- running the parts ------------------------------------------------------------------------------------------

_WORK: tuple | None = None  # (parts, model, keyed, deadline, memory cap): inherited by forked workers


def _run_parts(parts, model, keyed, deadline, mem_mb, parallel) -> list[dict]:
    """Check parts in order in this process; past PARALLEL_AFTER_S, hand what is left to a pool of workers.
    In this process, stops at the first failing part (the outcomes of the parts checked come back)."""
    global _WORK
    # Largest parts first: they are the ones worth a worker, and failures tend to show there.
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i][1]))
    outcomes: list[dict | None] = [None] * len(parts)
    started = time.monotonic()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for pos, i in enumerate(order):
        remaining = order[pos:]
        if parallel and ncpu > 1 and len(remaining) > 1 and time.monotonic() - started > PARALLEL_AFTER_S:
            _WORK = (parts, model, keyed, deadline, None if mem_mb is None else max(1, mem_mb // ncpu))
            try:
                for j, out in zip(remaining, _run_pool(remaining, min(ncpu, len(remaining)), deadline)):
                    outcomes[j] = out
            finally:
                _WORK = None
            break
        outcomes[i] = _check_part(parts[i][0], parts[i][1], model, keyed, deadline, mem_mb)
        if outcomes[i]["valid"] is False:
            break  # the verdict is known: the parts left would only add evidence, at a cost
    return [o for o in outcomes if o is not None]


def _pool_task(i: int) -> dict:
    parts, model, keyed, deadline, mem_mb = _WORK  # type: ignore[misc]
    return _check_part(parts[i][0], parts[i][1], model, keyed, deadline, mem_mb)


def _run_pool(indices: list[int], workers: int, deadline: float | None) -> list[dict]:
    """Run parts in forked workers. Past the deadline (plus a grace) the pool is terminated, killing its
    workers, and the parts not done count as unknown."""
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(workers)
    try:
        pending = {i: pool.apply_async(_pool_task, (i,)) for i in indices}
        out: dict[int, dict] = {}
        for i, ar in pending.items():
            timeout = None if deadline is None else max(0.0, deadline + _GRACE_S - time.monotonic())
            try:
                out[i] = ar.get(timeout)
            except multiprocessing.TimeoutError:
                out[i] = {"valid": "unknown", "cause": "time limit reached"}
            except Exception as e:  # a worker died (killed, out of memory): unknown, never valid
                out[i] = {"valid": "unknown", "cause": f"worker failed ({type(e).__name__}: {e})"}
        return [out[i] for i in indices]
    finally:
        pool.terminate()
        pool.join()


def _check_part(key, ops, model: Model, keyed: bool, deadline, mem_mb) -> dict:
    budget = _Budget(deadline, mem_mb)
    try:
        budget.check()
        # Most parts (a kv key, a register without crashes) have no unknown-outcome op: a lean verdict-only
        # search answers those; only a failure needs the traced search below, to explain it.
        if not keyed and plain_verdict(ops, model, budget) is True:
            return {"valid": True}
        prep = prepare(ops, model, keyed=keyed)
        # Paths cost ~5-10% more than a bare search; a second, traced run for failures would cost more.
        # First a narrow search (see search's ``keep``): when it finds a linearization that is a proof; when
        # it fails having dropped configurations, only the full search can tell.
        fail = search(prep, model, budget, trace=True, keep=FIRST_PASS_KEEP)
        if fail is not None and fail.pruned:
            fail = search(prep, model, budget, trace=True)
        if fail is None:
            return {"valid": True}
        return {"valid": False, "failure": _explain(key, ops, prep, model, keyed, fail)}
    except Interrupted as e:
        return {"valid": "unknown", "cause": e.cause}
    except MemoryError:
        return {"valid": "unknown", "cause": "memory limit reached"}


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


def _jsonable_key(k):
    if isinstance(k, tuple):
        return [_jsonable_key(x) for x in k]
    return k


__all__ = ["check_linearizable", "UNKNOWN"]
