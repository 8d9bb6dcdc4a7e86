"""Write a generated key-value history (Porcupine's kv shape) by simulating an atomic store. Seeded.

    python bench/gen_kv_history.py OUT --ops 1000000 --keys 1000 [--clients 50] [--format jsonl|edn] [--bad]
        [--seed 1]

Each of ``--clients`` processes invokes ``get``/``put``/``append`` ops (half gets, a quarter each put and append;
values ``"x <client> <seq> y"`` as in Porcupine's test data) on random keys; at each step one random client moves
on: it invokes a new op, or its op takes effect on the store (the linearization point), or its op completes with
the result it got. Ops therefore overlap the way concurrent clients' ops do, and the history is linearizable by
construction. ``--bad`` changes the result of one ``get`` (in the middle of the history) to a value no op ever
wrote, so exactly that key is not linearizable. ``--ops`` counts op pairs (a history of ``2 * ops`` lines).

Formats: ``jsonl`` is splitbrain's own (with ``index`` and ``time``); ``edn`` is one map per line as in Porcupine's
kv files (``{:process 0, :type :invoke, :f :append, :key "8", :value "x 0 0 y"}``), without time.
"""

from __future__ import annotations

import argparse
import json
import random
import sys


def generate(ops: int, keys: int, clients: int, seed: int, bad: bool):
    """Yield (process, type, f, key, value) tuples of a linearizable kv history (one corrupted read if ``bad``)."""
    rng = random.Random(seed)
    store: dict[str, str] = {}
    # per client: None (idle) or [f, key, arg, applied, result]
    inflight: list[list | None] = [None] * clients
    seq = [0] * clients
    invoked = 0
    done = 0
    corrupt = bad  # still to do: the first get completing in the second half of the history
    key_names = [str(k) for k in range(keys)]
    while done < ops:
        c = rng.randrange(clients)
        op = inflight[c]
        if op is None:
            if invoked >= ops:
                continue
            r = rng.random()
            key = key_names[rng.randrange(keys)]
            if r < 0.5:
                f, arg = "get", None
            else:
                f, arg = ("put" if r < 0.75 else "append"), f"x {c} {seq[c]} y"
                seq[c] += 1
            inflight[c] = [f, key, arg, False, None]
            invoked += 1
            yield c, "invoke", f, key, arg
        elif not op[3]:
            f, key, arg = op[0], op[1], op[2]
            if f == "get":
                op[4] = store.get(key, "")
            elif f == "put":
                store[key] = arg
                op[4] = arg
            else:
                store[key] = store.get(key, "") + arg
                op[4] = arg
            op[3] = True
        else:
            f, key, result = op[0], op[1], op[4]
            if corrupt and f == "get" and done >= ops // 2:
                result += "x never written y"
                corrupt = False
            inflight[c] = None
            done += 1
            yield c, "ok", f, key, result


def _edn_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write(out, rows, fmt: str) -> int:
    n = 0
    if fmt == "jsonl":
        for i, (p, t, f, k, v) in enumerate(rows):
            out.write(json.dumps({"index": i, "time": i * 1000, "process": p, "type": t, "f": f,
                                  "value": v, "key": k}, separators=(",", ":")) + "\n")
            n += 1
    else:
        for p, t, f, k, v in rows:
            val = "nil" if v is None else _edn_str(v)
            out.write(f"{{:process {p}, :type :{t}, :f :{f}, :key {_edn_str(k)}, :value {val}}}\n")
            n += 1
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="file to write ('-' for stdout)")
    ap.add_argument("--ops", type=int, default=1000, help="op pairs (the file has twice as many lines)")
    ap.add_argument("--keys", type=int, default=10)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--format", choices=("jsonl", "edn"), default="jsonl")
    ap.add_argument("--bad", action="store_true", help="corrupt one read of one key")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    rows = generate(a.ops, a.keys, a.clients, a.seed, a.bad)
    if a.out == "-":
        write(sys.stdout, rows, a.format)
    else:
        with open(a.out, "w", encoding="utf-8", buffering=1 << 20) as f:
            write(f, rows, a.format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
