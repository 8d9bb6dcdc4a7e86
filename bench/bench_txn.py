"""Benchmark of the transactional checker (checkers/txn) on simulated histories.

    .venv/bin/python bench/bench_txn.py [--txns 1000000] [--kind list-append] [--model serializable ...]
    .venv/bin/python bench/bench_txn.py --txns 200000 --fault non-atomic
    .venv/bin/python bench/bench_txn.py --txns 200000 --repeat 3 [--pure | --alternate]

The history (tests/_txn_sim.py: 10 processes, 4 keys at a time rotated every 60 transactions, 3% info, 5% fail)
is built first and not timed. Prints the check's wall and CPU time, transactions per second (of each), the verdict
and the process's peak resident memory (history included). Targets (issue 15): at least 150,000 transactions per
second, and 1,000,000 transactions in at most 60 s and 4 GB. On a shared machine, CPU time is the fairer number;
``--repeat`` shows the fastest of a few checks. ``--pure`` runs without the native core
(checkers/txn/_txn_native.c), as on a machine that could not build it; ``--alternate`` runs native and pure
checks by turns on the same history, the fair comparison when the machine's load changes.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.checkers.txn import check_txn  # noqa: E402
from splitbrain.checkers.txn.graph import native  # noqa: E402
from tests._txn_sim import FAULTS, simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txns", type=int, default=1_000_000)
    ap.add_argument("--kind", choices=["list-append", "rw-register"], default="list-append")
    ap.add_argument("--model", action="append", default=[],
                    help="consistency model(s) to check under (default: serializable and strict-serializable)")
    ap.add_argument("--fault", choices=[f for f in FAULTS if f], default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="checks per model; the fastest is shown (a loaded "
                    "machine's noise only ever adds time)")
    ap.add_argument("--pure", action="store_true", help="without the native core (SPLITBRAIN_PURE=1)")
    ap.add_argument("--alternate", action="store_true", help="native and pure checks taking turns on the same "
                    "history (--repeat each): the fair comparison on a machine whose load changes")
    args = ap.parse_args()

    t0 = time.perf_counter()
    history = simulate(args.seed, args.txns, kind=args.kind, procs=10, fault=args.fault)
    print(f"simulated {args.txns} {args.kind} transactions ({len(history)} ops, fault {args.fault}) in "
          f"{time.perf_counter() - t0:.1f} s")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"history alone: peak RSS {rss_before:,.0f} MB")
    if args.pure:
        os.environ["SPLITBRAIN_PURE"] = "1"
    print(f"native core: {native() or args.alternate}")
    paths = ["native", "pure"] if args.alternate else ["pure" if args.pure else "native"]
    for model in args.model or ["serializable", "strict-serializable"]:
        wall = dict.fromkeys(paths, float("inf"))
        cpu = dict(wall)
        for _ in range(max(1, args.repeat)):
            for path in paths:
                if path == "pure":
                    os.environ["SPLITBRAIN_PURE"] = "1"
                else:
                    os.environ.pop("SPLITBRAIN_PURE", None)
                w0, c0 = time.perf_counter(), time.process_time()
                r = check_txn(history, model=model, time_limit=600)
                wall[path] = min(wall[path], time.perf_counter() - w0)
                cpu[path] = min(cpu[path], time.process_time() - c0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for path in paths:
            label = f"{model} ({path})" if args.alternate else model
            print(f"{label}: valid={r['valid']} anomalies={r.get('anomaly_types')}; wall {wall[path]:.2f} s "
                  f"({args.txns / wall[path]:,.0f} txn/s), cpu {cpu[path]:.2f} s ({args.txns / cpu[path]:,.0f} "
                  f"txn/s); peak RSS so far {peak:,.0f} MB")
        del r

if __name__ == "__main__":
    main()
