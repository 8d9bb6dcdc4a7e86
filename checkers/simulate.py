"""Seeded histories of an atomic key-value store or register, for tests and benchmarks of the checkers.

The one generator of such histories in the project (tests, ``bench/`` and ``python -m
splitbrain.checkers.simulate`` all use it):

- :func:`kv_history` simulates Porcupine's kv model (``get`` returns the key's whole string, ``put`` sets it,
  ``append`` appends to it; a missing key reads as ``""``) under many concurrent clients;
  :func:`register_history` a register (``read``, ``write``, and ``cas`` with ``[old, new]``) the same way. Each op
  takes effect at one random moment between its invoke and its completion, so the history is linearizable by
  construction. Written values are unique (``"x <client> <n> y"``), as in Porcupine's test data.
- Corruptions that make exactly one read wrong: :func:`corrupt_one_read` (a stale read: an older value of its
  key -- the hard kind of failure, since the value is one the key really held), :func:`stale_register_read` (the
  same for a register), :func:`unwritten_read` (a value
  nobody wrote) and :func:`swap_two_appends` (the last two appends a read saw, swapped: not always a failure).
- :func:`write_history` writes ops as JSON Lines (splitbrain's format) or EDN one map per line (Porcupine's kv
  files, without time); :func:`main` is the command line.

Pure functions of their arguments (a seed in, ops out); they know only the history format.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from typing import Callable, Iterable, TextIO

from splitbrain.history.ops import Op

#: choose(rng, client) -> (f, key, value): the op a client invokes
Chooser = Callable[[random.Random, int, int], tuple]
#: apply(store, f, key, value) -> completion value: the op takes effect on ``store`` (a dict) atomically
Applier = Callable[[dict, str, object, object], tuple]


def _simulate(seed: int, n_ops: int, clients: int, choose: Chooser, apply: Applier, *, mean_latency: float,
              think: float, tail: float) -> list[Op]:
    """The event simulation behind both generators: ``clients`` clients, one op at a time each; an op's
    latency is the sum of two exponential halves (its effect happens between them), ``tail`` of the ops take
    five times as long (a loaded cluster's long tail); after each op a client waits an exponential time of
    mean ``think`` (0: never)."""
    rng = random.Random(seed)
    store: dict = {}
    events: list[tuple[float, int, int, str]] = []   # (time, tiebreak, client, what): "effect", "done", "start"
    pending: dict[int, list] = {}                      # client -> [f, key, value, completion value, type]
    ops: list[Op] = []
    tie = 0
    now = 0.0
    invoked = 0

    def invoke(c: int, reserved: bool = False) -> None:
        nonlocal tie, invoked
        f, key, v = choose(rng, c)
        pending[c] = [f, key, v, None, "ok"]
        if not reserved:
            invoked += 1
        ops.append(Op(len(ops), int(now * 1e6), c, "invoke", f, v, key=key))
        scale = 5.0 if tail and rng.random() < tail else 1.0
        effect = now + rng.expovariate(2.0 / mean_latency) * scale
        done = effect + rng.expovariate(2.0 / mean_latency) * scale
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
        x = pending[c]
        if what == "effect":
            x[4], x[3] = apply(store, x[0], x[1], x[2])
            continue
        del pending[c]
        ops.append(Op(len(ops), int(now * 1e6), c, x[4], x[0], x[3], key=x[1]))
        if invoked < n_ops:
            if think > 0:
                tie += 1
                heapq.heappush(events, (now + rng.expovariate(1.0 / think), tie, c, "start"))
                invoked += 1  # reserved now, so no more than n_ops are ever started
            else:
                invoke(c)
    return ops


def kv_history(seed: int, n_ops: int, *, clients: int = 50, keys: int = 10, p_get: float = 0.5,
               p_put: float = 0.1, mean_latency: float = 1.0, think: float = 0.0, tail: float = 0.0) -> list[Op]:
    """``n_ops`` ops (each an invoke and an ``ok``) of ``clients`` concurrent clients over keys ``"0".."keys-1"``:
    ``get`` with chance ``p_get``, ``put`` with ``p_put``, else ``append``. Latencies: mean ``mean_latency``
    (arbitrary units), ``tail`` of them five times longer; after each op a client waits an exponential time of
    mean ``think`` (0: it is busy all the time, so ``clients`` ops overlap at any moment; with ``think ==
    mean_latency`` about half as many)."""
    written = [0] * clients

    def choose(rng, c):
        key = str(rng.randrange(keys))
        r = rng.random()
        if r < p_get:
            return "get", key, None
        written[c] += 1
        return ("put" if r < p_get + p_put else "append"), key, f"x {c} {written[c] - 1} y"

    def apply(store, f, key, v):
        if f == "get":
            return "ok", store.get(key, "")
        store[key] = v if f == "put" else store.get(key, "") + v
        return "ok", v

    return _simulate(seed, n_ops, clients, choose, apply, mean_latency=mean_latency, think=think, tail=tail)


def register_history(seed: int, n_ops: int, *, clients: int = 10, p_read: float = 0.5, p_cas: float = 0.2,
                     mean_latency: float = 1.0, think: float = 1.0, tail: float = 0.0) -> list[Op]:
    """``n_ops`` ops of ``clients`` clients on one register (no key): ``read`` with chance ``p_read``, ``cas``
    with ``p_cas`` (from a value the register held lately, so about half of them succeed; a failed one completes
    ``fail``), else ``write`` of a unique value. Timing as in :func:`kv_history`. Check with the cas-register
    model (or the register model when ``p_cas`` is 0)."""
    recent: list = [None]
    written = [0] * clients

    def choose(rng, c):
        r = rng.random()
        if r < p_read:
            return "read", None, None
        written[c] += 1
        v = f"x {c} {written[c] - 1} y"
        if r < p_read + p_cas:
            return "cas", None, [rng.choice(recent), v]
        return "write", None, v

    def apply(store, f, _key, v):
        cur = store.get("v")
        if f == "read":
            return "ok", cur
        if f == "cas" and cur != v[0]:
            return "fail", v
        store["v"] = v[1] if f == "cas" else v
        recent.append(store["v"])
        del recent[:-3]
        return "ok", v

    return _simulate(seed, n_ops, clients, choose, apply, mean_latency=mean_latency, think=think, tail=tail)


# --- corruptions: one read made wrong --------------------------------------------------------------------------

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
    return _with_value(ops, i, stale), i


def stale_register_read(ops: list[Op], seed: int) -> tuple[list[Op], int]:
    """A copy of a :func:`register_history` in which one completed ``read`` (in the middle half of the history)
    returns a value an earlier read saw, where a read of another value completed between them (the first read
    completed before that one was invoked, and that one before this read was invoked): a stale read. Returns the
    copy and the read's index; ValueError when there is no such read.

    Why it is not linearizable: written values are unique, so a register that moved past a value never holds it
    again."""
    rng = random.Random(seed)
    inv: dict = {}                  # process -> index of its pending read's invoke
    done: list[tuple[int, int, object]] = []   # completed reads: (invoke index, completion index, value)
    candidates: list[tuple[int, object]] = []
    for i, op in enumerate(ops):
        if op.f != "read":
            continue
        if op.type == "invoke":
            inv[op.process] = i
            continue
        ri = inv.pop(op.process, None)
        if op.type != "ok" or ri is None:
            continue
        if len(ops) // 4 <= i <= 3 * len(ops) // 4:
            # the latest read completed before this one's invoke, then one completed before that one's invoke
            j = len(done) - 1
            while j >= 0 and done[j][1] > ri:
                j -= 1
            if j >= 0:
                r2 = done[j]
                k = j - 1
                while k >= 0 and (done[k][1] > r2[0] or done[k][2] == r2[2]) and j - k < 50:
                    k -= 1
                if k >= 0 and done[k][1] < r2[0] and done[k][2] != r2[2] and done[k][2] != op.value:
                    candidates.append((i, done[k][2]))
        done.append((ri, i, op.value))
    if not candidates:
        raise ValueError("no read after two reads of different values: make the history longer")
    i, stale = candidates[rng.randrange(len(candidates))]
    return _with_value(ops, i, stale), i


def unwritten_read(ops: list[Op]) -> tuple[list[Op], int]:
    """A copy of ``ops`` in which the first ``get`` completing in the second half of the history returns its
    value followed by ``"x never written y"`` (a value no op wrote: exactly its key fails); and that get's index.
    Raises ValueError when there is none."""
    for i in range(len(ops) // 2, len(ops)):
        op = ops[i]
        if op.f == "get" and op.type == "ok" and isinstance(op.value, str):
            return _with_value(ops, i, op.value + "x never written y"), i
    raise ValueError("no completed get in the second half of the history")


def swap_two_appends(ops: list[Op], seed: int) -> tuple[list[Op], int]:
    """A copy of ``ops`` in which one completed ``get`` (in the middle half of the history) returns its value
    with the last two appended tokens swapped -- a subtler corruption than a stale read: each order alone is
    often possible, the history as a whole usually is not. Not always non-linearizable: check the verdict.
    Returns the copy and the get's index; ValueError when no get saw two different appends."""
    rng = random.Random(seed)
    candidates = []
    for i, op in enumerate(ops):
        if op.f != "get" or op.type != "ok" or not isinstance(op.value, str):
            continue
        toks = op.value.split(" y")
        if len(toks) >= 3 and toks[-2] != toks[-3]:
            candidates.append(i)
    if not candidates:
        raise ValueError("no read saw two appends: make the history longer")
    mid = [i for i in candidates if len(ops) // 4 <= i <= 3 * len(ops) // 4] or candidates
    i = rng.choice(mid)
    toks = ops[i].value.split(" y")
    toks[-2], toks[-3] = toks[-3], toks[-2]
    return _with_value(ops, i, " y".join(toks)), i


def _with_value(ops: list[Op], i: int, value) -> list[Op]:
    out = list(ops)
    op = out[i]
    out[i] = Op(op.index, op.time, op.process, op.type, op.f, value, node=op.node, key=op.key)
    return out


# --- writing files ---------------------------------------------------------------------------------------------

def _edn_value(v) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_edn_value(x) for x in v) + "]"
    return json.dumps(v)


def write_history(ops: Iterable[Op], out: TextIO, fmt: str = "jsonl") -> int:
    """Write ``ops`` to ``out``: ``jsonl`` is splitbrain's own format (with ``index`` and ``time``); ``edn`` one
    map per line as in Porcupine's kv files (``{:process 0, :type :invoke, :f :append, :key "8", :value "x 0 0
    y"}``), without time. Returns the number of lines written."""
    n = 0
    for o in ops:
        if fmt == "jsonl":
            d = {"index": o.index, "time": o.time, "process": o.process, "type": o.type, "f": o.f, "value": o.value}
            if o.key is not None:
                d["key"] = o.key
            out.write(json.dumps(d, separators=(",", ":")) + "\n")
        else:
            key = "" if o.key is None else f", :key {_edn_value(o.key)}"
            out.write(f"{{:process {o.process}, :type :{o.type}, :f :{o.f}{key}, :value {_edn_value(o.value)}}}\n")
        n += 1
    return n


def main(argv=None) -> int:
    """``python -m splitbrain.checkers.simulate OUT --ops N --keys K [--clients C] [--think T] [--format jsonl|edn]
    [--bad] [--seed S]``: write a generated kv history (``--ops`` op pairs: twice as many lines; ``--bad``: one
    read returns a value never written, so exactly its key fails)."""
    ap = argparse.ArgumentParser(prog="python -m splitbrain.checkers.simulate",
                                 description="Write a seeded kv history of a simulated atomic store.")
    ap.add_argument("out", help="file to write ('-' for stdout)")
    ap.add_argument("--ops", type=int, default=1000, help="op pairs (the file has twice as many lines)")
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--think", type=float, default=0.0, help="mean pause of a client between ops (latency 1)")
    ap.add_argument("--format", choices=("jsonl", "edn"), default="jsonl")
    ap.add_argument("--bad", action="store_true", help="one read of one key returns a value never written")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    ops = kv_history(a.seed, a.ops, clients=a.clients, keys=a.keys, p_put=0.25, think=a.think)
    if a.bad:
        ops, _i = unwritten_read(ops)
    if a.out == "-":
        write_history(ops, sys.stdout, a.format)
    else:
        with open(a.out, "w", encoding="utf-8", buffering=1 << 20) as f:
            write_history(ops, f, a.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
