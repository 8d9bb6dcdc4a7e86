"""Benchmark of the linearizability checker on the reference corpus, beside Porcupine's times.

    .venv/bin/python bench/bench_checker.py [--corpus ../shared/corpus] [--repeat 7]

Everything runs in this one process (``parallel=False``), one core. Times are check time only (the history is
parsed first and not timed), CPU time of the process, the median of ``--repeat`` runs per file. Prints per-file times beside
``porcupine_ms`` from expected.csv, whether the verdicts agree, totals per directory, kv c10 with and without
the per-key split (and without the split and without the independence hint, i.e. a plain whole-store search),
and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checkers.linearizable import check_linearizable  # noqa: E402
from checkers.models import get_model  # noqa: E402
from harness.importers import load_history  # noqa: E402


def timed(history, model, repeat: int, **kw) -> tuple[float, dict]:
    """Median CPU time of this process (ms) over ``repeat`` checks: on a shared machine wall time mostly
    measures the neighbours. The result of the last check comes along."""
    times, result = [], None
    for _ in range(repeat):
        t = time.process_time()
        result = check_linearizable(history, model, parallel=False, **kw)
        times.append((time.process_time() - t) * 1000)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpus"))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--plain", action="store_true",
                    help="also time the whole-store kv search without the independence hint (about a minute)")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    rows = list(csv.DictReader(open(corpus / "expected.csv")))
    histories = {r["file"]: load_history(corpus / r["file"]) for r in rows}

    print(f"{'file':24} {'ops':>5} {'verdict':>8} {'agree':>5} {'cpu_ms':>9} {'porcupine_ms':>13}")
    totals: dict[str, list[float]] = {}
    disagree = 0
    for r in rows:
        ms, res = timed(histories[r["file"]], r["model"], args.repeat)
        expected = r["linearizable"] == "true"
        ok = res["valid"] is expected
        disagree += not ok
        group = r["file"].split("/")[0]
        t = totals.setdefault(group, [0.0, 0.0])
        t[0] += ms
        t[1] += float(r["porcupine_ms"])
        print(f"{r['file']:24} {res['ops']:>5} {str(res['valid']):>8} {'yes' if ok else 'NO':>5} {ms:>9.3f} "
              f"{float(r['porcupine_ms']):>13.3f}")
    print()
    for group, (ours, theirs) in totals.items():
        print(f"total {group:10} ours {ours:9.2f} ms   porcupine {theirs:9.2f} ms")
    print(f"verdicts agreeing with expected.csv: {len(rows) - disagree}/{len(rows)}")
    print()

    kv = get_model("kv")
    plain = dataclasses.replace(kv, footprint=None)
    for name in ("c10-ok", "c10-bad"):
        f = f"kv/{name}.txt"
        row = next(r for r in rows if r["file"] == f)
        h = histories[f]
        split_ms, _ = timed(h, "kv", args.repeat)
        whole_ms, res = timed(h, "kv", max(1, args.repeat // 2), split=False)
        line = (f"{f}: split {split_ms:.2f} ms (porcupine {float(row['porcupine_ms']):.2f}); "
                f"whole store {whole_ms:.1f} ms [{res['valid']}]")
        if args.plain:
            plain_ms, res2 = timed(h, plain, 1, split=False, time_limit=120)
            line += f"; whole store without the independence hint {plain_ms:.0f} ms [{res2['valid']}]"
        print(line + f" (porcupine one partition {float(row['porcupine_ms_one_partition']):.0f} ms)")

    # Peak memory: Python allocations during one check of every file (tracemalloc), and the process's max RSS.
    tracemalloc.start()
    peak_file, peak = "", 0
    for r in rows:
        tracemalloc.reset_peak()
        check_linearizable(histories[r["file"]], r["model"], parallel=False)
        p = tracemalloc.get_traced_memory()[1]
        if p > peak:
            peak_file, peak = r["file"], p
    tracemalloc.reset_peak()
    check_linearizable(histories["kv/c10-ok.txt"], "kv", parallel=False, split=False)
    whole_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print()
    print(f"peak traced allocation of one check: {peak / 1e6:.2f} MB ({peak_file}); "
          f"kv c10-ok whole store: {whole_peak / 1e6:.2f} MB")
    print(f"process max RSS (parsing included): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
