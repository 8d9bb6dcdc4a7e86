"""Scale benchmark of ``splitbrain check``: big generated kv histories read and checked through the real CLI.

    .venv/bin/python bench/bench_scale.py [--ops 1000000] [--keys 1000] [--clients 50] [--formats jsonl,edn]
                                          [--one-key-ops 100000]

Writes seeded histories of an atomic kv store (splitbrain.checkers.simulate.kv_history, Porcupine's kv shape) to a
temporary directory, runs ``splitbrain check FILE --model kv`` on each, and prints the wall time (reading included) and the
peak memory of the whole process tree, sampled every 20 ms: the sum of RSS (what the issue's "summed over all
processes" means; shared pages of forked workers count once per process) and the sum of PSS (shared pages split
between the processes that share them). Cases: ``--ops`` ops over ``--keys`` keys with ``--clients`` clients
(the 1M / 1,000 keys target: 20 s and 1.2 GB), and ``--one-key-ops`` ops of one key with 10 clients (target 10 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.checkers.simulate import kv_history, write_history as _write  # noqa: E402

SPLITBRAIN = str(Path(sys.executable).with_name("splitbrain"))


def write_history(ops, path: Path, fmt: str) -> None:
    """JSON Lines in splitbrain's format, or EDN one map per line in Porcupine's kv shape."""
    with path.open("w") as f:
        _write(ops, f, fmt)


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _mem_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def run_check(path: Path, *extra: str) -> dict:
    """Run ``splitbrain check`` on ``path``; wall time, exit code, output line and peak summed RSS/PSS (MB)."""
    t = time.perf_counter()
    p = subprocess.Popen([SPLITBRAIN, "check", str(path), "--model", "kv", *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    peak_rss = peak_pss = 0
    procs = 1
    while p.poll() is None:
        pids = _tree(p.pid)
        procs = max(procs, len(pids))
        mem = [_mem_kb(q) for q in pids]
        peak_rss = max(peak_rss, sum(m[0] for m in mem))
        peak_pss = max(peak_pss, sum(m[1] for m in mem))
        time.sleep(0.02)
    out, err = p.communicate()
    return {"wall_s": time.perf_counter() - t, "code": p.returncode, "out": out.strip().splitlines()[:1],
            "err": err.strip()[-300:], "rss_mb": peak_rss / 1024, "pss_mb": peak_pss / 1024, "procs": procs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--one-key-ops", type=int, default=100_000)
    ap.add_argument("--formats", default="jsonl,edn")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check-limit", type=float, default=120.0, help="--time-limit of each check (s)")
    args = ap.parse_args()
    cases = [(f"{args.ops} ops, {args.keys} keys, {args.clients} clients",
              lambda: kv_history(args.seed, args.ops, clients=args.clients, keys=args.keys)),
             (f"{args.one_key_ops} ops, 1 key, 10 clients",
              lambda: kv_history(args.seed, args.one_key_ops, clients=10, keys=1, think=1.0))]
    bad = 0
    with tempfile.TemporaryDirectory(prefix="sb-bench-scale-") as tmp:
        for name, make in cases:
            t = time.perf_counter()
            ops = make()
            gen_s = time.perf_counter() - t
            for fmt in args.formats.split(","):
                path = Path(tmp) / f"h.{fmt}"
                write_history(ops, path, fmt)
                size = path.stat().st_size / 1e6
                r = run_check(path, "--time-limit", str(args.check_limit))
                bad += r["code"] != 0  # every history here is linearizable: anything else counts
                print(f"{name} [{fmt}, {size:.0f} MB]: exit {r['code']}  wall {r['wall_s']:.1f} s  "
                      f"peak RSS summed {r['rss_mb']:.0f} MB, PSS summed {r['pss_mb']:.0f} MB "
                      f"({r['procs']} process(es) at most)  {r['out'][0] if r['out'] else ''}", flush=True)
                if r["err"]:
                    print(f"    stderr: {r['err']}")
                path.unlink()
            del ops
            print(f"    (generating the history took {gen_s:.1f} s, not counted)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
