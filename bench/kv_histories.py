"""Seeded key-value histories of Porcupine's test-data shape, from a simulated atomic store.

    from bench.kv_histories import kv_history
    ops = kv_history(seed=1, clients=50, keys=10, n_ops=2000)              # linearizable by construction
    bad = kv_history(seed=1, clients=50, keys=10, n_ops=2000, corrupt=True)  # one read of one key made stale

The store follows Porcupine's kv model (the ``kv`` model here): ``get`` returns the key's whole string (a missing
key reads as ""), ``put`` sets it, ``append`` appends to it. Every client runs one op at a time; each op takes a
random latency (a long tail, as on a loaded cluster) and takes effect at one random moment between its invoke
and its completion, so the history is linearizable. Values are unique (``"x <client> <n> y"``), so a key's
string names the writes that made it.

With ``corrupt``, one ``get`` of one key returns a value that key held earlier instead: the first value, older
than the last completed write before the get was invoked, that the get could no longer see. With unique values
such a read is not linearizable, and the search must rule out every order of the ops pending around it.
"""

from __future__ import annotations

import heapq
import random

from splitbrain.history.ops import Op


def kv_history(seed: int, *, clients: int = 50, keys: int = 10, n_ops: int = 2000, p_get: float = 0.5,
               p_append: float = 0.3, corrupt: bool | str = False) -> list[Op]:
    """``n_ops`` ops of ``clients`` clients on ``keys`` keys (see the module docstring)."""
    rng = random.Random(seed)
    heap: list[tuple[float, int, str, int]] = []   # (time, seq, what, client): "invoke" / "effect" / "complete"
    seq = 0
    pending: dict[int, dict] = {}
    store: dict[str, str] = {}
    events: list[tuple[float, int, dict]] = []       # (time, seq, event) in time order
    started = 0
    counter = [0] * clients
    for c in range(clients):
        heapq.heappush(heap, (rng.random(), seq, "invoke", c))
        seq += 1
    while heap:
        t, _s, what, c = heapq.heappop(heap)
        if what == "invoke":
            if started >= n_ops:
                continue
            started += 1
            key = str(rng.randrange(keys))
            r = rng.random()
            f = "get" if r < p_get else "append" if r < p_get + p_append else "put"
            counter[c] += 1
            value = None if f == "get" else f"x {c} {counter[c]} y"
            lat = rng.expovariate(1.0) * (5.0 if rng.random() < 0.1 else 1.0)
            x = {"f": f, "key": key, "value": value, "out": None, "invoke_t": t}
            pending[c] = x
            events.append((t, seq, {"process": c, "type": "invoke", "f": f, "key": key, "value": value}))
            seq += 1
            heapq.heappush(heap, (t + rng.random() * lat, seq, "effect", c))
            seq += 1
            heapq.heappush(heap, (t + lat, seq, "complete", c))
            seq += 1
        elif what == "effect":
            x = pending[c]
            cur = store.get(x["key"], "")
            if x["f"] == "get":
                x["out"] = cur
            else:
                new = x["value"] if x["f"] == "put" else cur + x["value"]
                store[x["key"]] = new
                x["after"] = new
                x["out"] = x["value"]
        else:
            x = pending.pop(c)
            x["done_t"] = t
            ev = {"process": c, "type": "ok", "f": x["f"], "key": x["key"], "value": x["out"], "x": x}
            events.append((t, seq, ev))
            seq += 1
            heapq.heappush(heap, (t + rng.random() * 0.2, seq, "invoke", c))
            seq += 1
    events.sort()
    if corrupt == "swap":
        _swap_two_appends_in_one_read(rng, events)
    elif corrupt:
        _make_one_read_stale(rng, events)
    ops = []
    for i, (t, _s, e) in enumerate(events):
        ops.append(Op(i, int(t * 1e6), e["process"], e["type"], e["f"], e["value"], key=e["key"]))
    return ops


def _make_one_read_stale(rng: random.Random, events: list) -> None:
    """Give one get a value its key held before a write W' that completed before the get was invoked, where the
    write that made the value completed before W' was invoked: every linearization has W' between them."""
    writes: dict[str, list[dict]] = {}
    for _t, _s, e in events:
        x = e.get("x")
        if x is not None and x["f"] != "get":
            writes.setdefault(x["key"], []).append(x)
    candidates = []
    for n, (_t, _s, e) in enumerate(events):
        x = e.get("x")
        if x is None or x["f"] != "get":
            continue
        ws = writes.get(x["key"], [])
        bound = max((w["invoke_t"] for w in ws if w["done_t"] < x["invoke_t"]), default=None)
        if bound is None:
            continue
        stale = [w["after"] for w in ws if w["done_t"] < bound and w["after"] != x["out"]]
        if stale:
            candidates.append((n, stale))
    if not candidates:
        raise ValueError("no read to corrupt: make the history longer")
    # in the middle of the history, where many ops are pending around it
    mid = [c for c in candidates if len(events) // 4 <= c[0] <= 3 * len(events) // 4] or candidates
    n, stale = rng.choice(mid)
    e = dict(events[n][2])
    e["value"] = rng.choice(stale)
    events[n] = (events[n][0], events[n][1], e)


def _swap_two_appends_in_one_read(rng: random.Random, events: list) -> None:
    """Swap the last two appended tokens in the value one get returned (a subtler corruption than a stale read:
    each order alone is often possible, the history as a whole usually is not, and the search may only find out
    after trying the orders of the ops pending around it). Not always non-linearizable: check the verdict."""
    candidates = []
    for n, (_t, _s, e) in enumerate(events):
        x = e.get("x")
        if x is None or x["f"] != "get" or not isinstance(e["value"], str):
            continue
        toks = e["value"].split(" y")
        if len(toks) >= 3 and toks[-2] != toks[-3]:
            candidates.append(n)
    if not candidates:
        raise ValueError("no read to corrupt: make the history longer")
    mid = [n for n in candidates if len(events) // 4 <= n <= 3 * len(events) // 4] or candidates
    n = rng.choice(mid)
    e = dict(events[n][2])
    toks = e["value"].split(" y")
    toks[-2], toks[-3] = toks[-3], toks[-2]
    e["value"] = " y".join(toks)
    events[n] = (events[n][0], events[n][1], e)
