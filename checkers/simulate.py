"""Seeded histories of an atomic key-value store, for tests and benchmarks of the checkers.

:func:`kv_history` simulates Porcupine's kv model (``get`` returns the key's whole string, ``put`` sets it,
``append`` appends to it; a missing key reads as ``""``) under many concurrent clients: each op takes effect at
one random moment between its invoke and its completion, so the history is linearizable by construction.
:func:`corrupt_one_read` turns one ``get`` into a stale read (an older value of its key), which makes the history
non-linearizable while keeping the value one the key really held -- the hard kind of failure for a checker,
which must rule out every order before it may say so.

Pure functions of their arguments (a seed in, ops out); they know only the history format.
"""

from __future__ import annotations

import heapq
import random

from splitbrain.history.ops import Op


def kv_history(seed: int, n_ops: int, *, clients: int = 50, keys: int = 10, p_get: float = 0.5,
               p_put: float = 0.1, mean_latency: float = 1.0, think: float = 0.0) -> list[Op]:
    """``n_ops`` ops (each an invoke and an ``ok``) of ``clients`` concurrent clients over keys ``"0".."keys-1"``.
    Latencies are exponential with mean ``mean_latency`` (arbitrary units); after each op a client waits an
    exponential time of mean ``think`` (0: it is busy all the time, so ``clients`` ops overlap at any moment; with
    ``think == mean_latency`` about half as many)."""
    rng = random.Random(seed)
    store: dict[str, str] = {}
    events: list[tuple[float, int, int, str]] = []   # (time, tiebreak, client, what): "effect", "done", "start"
    pending: dict[int, list] = {}                      # client -> [f, key, value, output]
    ops: list[Op] = []
    counter = [0] * clients
    tie = 0
    now = 0.0
    invoked = 0

    def invoke(c: int, reserved: bool = False) -> None:
        nonlocal tie, invoked
        key = str(rng.randrange(keys))
        r = rng.random()
        if r < p_get:
            f, v = "get", None
        else:
            f = "put" if r < p_get + p_put else "append"
            v = f"x {c} {counter[c]} y"
            counter[c] += 1
        pending[c] = [f, key, v, None]
        if not reserved:
            invoked += 1
        ops.append(Op(len(ops), int(now * 1e6), c, "invoke", f, v, key=key))
        effect = now + rng.expovariate(2.0 / mean_latency)
        done = effect + rng.expovariate(2.0 / mean_latency)
        tie += 1
        heapq.heappush(events, (effect, tie, c, "effect"))
        tie += 1
        heapq.heappush(events, (done, tie, c, "done"))

    for c in range(clients):
        if invoked < n_ops:
            invoke(c)
    while events:
        now, _t, c, what = heapq.heappop(events)
        if what == "start":
            invoke(c, reserved=True)
            continue
        f, key, v, _o = x = pending[c]
        if what == "effect":
            if f == "get":
                x[3] = store.get(key, "")
            elif f == "put":
                store[key] = v
            else:
                store[key] = store.get(key, "") + v
            continue
        del pending[c]
        ops.append(Op(len(ops), int(now * 1e6), c, "ok", f, x[3] if f == "get" else v, key=key))
        if invoked < n_ops:
            if think > 0:
                tie += 1
                heapq.heappush(events, (now + rng.expovariate(1.0 / think), tie, c, "start"))
                invoked += 1  # reserved now, so no more than n_ops are ever started
            else:
                invoke(c)
    return ops


def corrupt_one_read(ops: list[Op], seed: int, *, key: str | None = None) -> tuple[list[Op], int]:
    """A copy of ``ops`` in which one completed ``get`` (of ``key``, if given) returns a value its key held
    before a read that completed before this get was invoked had already seen a newer one (a stale read); returns
    the copy and the history index of the changed completion. Raises ValueError when there is no such get.

    Why it is not linearizable: appended and put values are unique, so once a key has grown past a value it never
    holds that value again."""
    rng = random.Random(seed)
    last: dict[str, tuple[str, str]] = {}   # key -> (older value, newer value) of completed gets, older a prefix
    stale_at_invoke: dict[int, str] = {}    # process -> stale value known when its pending get was invoked
    candidates: list[tuple[int, str]] = []
    for i, op in enumerate(ops):
        if op.f != "get" or (key is not None and op.key != key):
            continue
        if op.type == "invoke":
            pair = last.get(op.key)
            if pair is not None:
                stale_at_invoke[op.process] = pair[0]
            else:
                stale_at_invoke.pop(op.process, None)
            continue
        if op.type != "ok":
            continue
        stale = stale_at_invoke.pop(op.process, None)
        if stale is not None and stale != op.value:
            candidates.append((i, stale))
        w = op.value
        prev = last.get(op.key, ("", ""))[1]
        if w != prev and w.startswith(prev):
            last[op.key] = (prev, w)
    if not candidates:
        raise ValueError("no read after a change of its key: nothing to make stale")
    i, stale = candidates[rng.randrange(len(candidates))]
    out = list(ops)
    op = out[i]
    out[i] = Op(op.index, op.time, op.process, op.type, op.f, stale, node=op.node, key=op.key)
    return out, i
