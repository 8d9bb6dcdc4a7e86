"""A simulated transactional store, for the checker's tests and bench: a seeded history of list-append or
rw-register transactions under random concurrency.

Correct (``fault=None``): each transaction takes effect atomically at one random moment while it is pending, so
the history is strict serializable. ``info`` transactions took effect or not (at random) and retire their process;
``fail`` ones took no effect. Injected faults, each giving a known anomaly:

- ``aborted-read``: failed transactions' writes are applied anyway (G1a);
- ``non-atomic``: a transaction's micro-ops take effect one by one at different moments (G-single, G0, G1b ...);
- ``stale-read``: read-only transactions read a state a few steps old (serializable, not strict: ``-realtime``);
- ``lost-update``: reads come from the state when the transaction began, writes land at commit with no conflict
  check (snapshot-isolation-like: lost updates and write skew);
- ``snapshot-isolation``: a real SI store: reads from the state when the transaction began (and its own writes),
  writes at commit, first committer wins (a transaction whose written keys changed since it began fails). Its
  histories are always SI, and often not serializable (write skew).
"""

from __future__ import annotations

import random

from splitbrain.history.ops import Op

FAULTS = (None, "aborted-read", "non-atomic", "stale-read", "lost-update", "snapshot-isolation")


def _gen_txn(rng: random.Random, kind: str, keys: list, fresh) -> list:
    """1-4 micro-ops on the active keys; a quarter read-only, a quarter write-only."""
    shape = rng.random()
    n = rng.randint(1, 4)
    mops = []
    for _ in range(n):
        k = rng.choice(keys)
        write = shape >= 0.5 and rng.random() < 0.5 or shape >= 0.25 and shape < 0.5
        if shape < 0.25:
            write = False
        if write:
            mops.append(["append" if kind == "list-append" else "w", k, fresh(k)])
        else:
            mops.append(["r", k, None])
    return mops


def _apply(state: dict, mop: list, kind: str, reads_from: dict | None = None) -> list:
    f, k, v = mop
    if f == "r":
        src = state if reads_from is None else reads_from
        cur = src.get(k)
        return ["r", k, list(cur) if kind == "list-append" and cur is not None else
                ([] if kind == "list-append" else cur)]
    for view in (state,) if reads_from is None else (state, reads_from):  # its own writes show in its view
        view[k] = view.get(k, ()) + (v,) if kind == "list-append" else v
    return [f, k, v]


def simulate(seed: int, n: int, *, kind: str = "list-append", procs: int = 5, keys: int = 4, rotate: int = 60,
             fault: str | None = None, p_info: float = 0.03, p_fail: float = 0.05) -> list[Op]:
    """``n`` transactions by ``procs`` concurrent processes over ``keys`` active keys; a fresh group of keys
    every ``rotate`` transactions keeps lists short. Values are unique per key."""
    rng = random.Random(seed)
    state: dict = {}
    snapshots: list[dict] = []   # stale-read: recent states (of the keys still in use)
    counters: dict = {}

    def fresh(k):
        counters[k] = counters.get(k, 0) + 1
        return counters[k]

    ops: list[Op] = []
    idle = list(range(procs))
    nxt = procs
    pending: dict = {}  # process -> [invoke mops, results so far, next mop to apply, snapshot or None]
    invoked = 0
    while invoked < n or pending:
        if invoked < n and idle and (not pending or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            base = (invoked // rotate) * keys
            mops = _gen_txn(rng, kind, [base + i for i in range(keys)], fresh)
            snap = {m[1]: state.get(m[1]) for m in mops if m[1] in state} \
                if fault in ("lost-update", "snapshot-isolation") else None
            pending[p] = [mops, [], 0, snap, False]
            invoked += 1
            ops.append(Op(len(ops), len(ops), p, "invoke", "txn", mops))
            continue
        p = rng.choice(tuple(pending))
        x = pending[p]
        mops, results, i, snap, doomed = x
        r = rng.random()
        if i < len(mops) and not doomed and fault == "snapshot-isolation" and \
                any(m[0] != "r" and state.get(m[1]) != snap.get(m[1]) for m in mops):
            x[4] = doomed = True  # first committer wins: another transaction wrote one of its keys since it began
        if i < len(mops) and r < 0.6 and not doomed:
            # take effect now: all at once, or one micro-op at a time when non-atomic
            if fault == "stale-read" and all(m[0] == "r" for m in mops) and snapshots:
                old = snapshots[max(0, len(snapshots) - 1 - rng.randrange(4))]
                results.extend(_apply(state, m, kind, old) for m in mops)
                x[2] = len(mops)
            else:
                upto = i + 1 if fault == "non-atomic" else len(mops)
                results.extend(_apply(state, m, kind, snap) for m in mops[i:upto])
                x[2] = upto
                if fault == "stale-read":
                    # the keys any pending transaction can touch (its own window or the two before)
                    base = (invoked // rotate) * keys
                    snapshots.append({k: state[k] for k in range(base - 2 * keys, base + keys) if k in state})
                    if len(snapshots) > 8:
                        snapshots.pop(0)
            continue
        if i < len(mops) and i > 0:
            continue  # partly applied (non-atomic): finish before completing
        del pending[p]
        if i == len(mops):
            if rng.random() < p_info:
                ops.append(Op(len(ops), len(ops), p, "info", "txn", mops, error="timeout"))
                nxt, p = nxt + 1, nxt
            else:
                ops.append(Op(len(ops), len(ops), p, "ok", "txn", results))
        elif doomed or rng.random() < p_fail or fault == "aborted-read" and rng.random() < 0.2:
            if fault == "aborted-read":
                for m in mops:
                    if m[0] != "r":
                        _apply(state, m, kind)
            ops.append(Op(len(ops), len(ops), p, "fail", "txn", mops, error="aborted"))
        elif rng.random() < p_info:
            ops.append(Op(len(ops), len(ops), p, "info", "txn", mops, error="timeout"))
            nxt, p = nxt + 1, nxt
        else:
            results.extend(_apply(state, m, kind, snap) for m in mops)
            ops.append(Op(len(ops), len(ops), p, "ok", "txn", results))
        idle.append(p)
    return ops
