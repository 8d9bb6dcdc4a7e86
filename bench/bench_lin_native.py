"""Benchmark of the native verdict-only search (checkers/_lin_fast.py) per file, beside Porcupine's times.

    .venv/bin/python bench/bench_lin_native.py [--corpus tests/data/corpus] [--repeat 5] [--seeds 5] [--pure]

Times are CPU time of this process (ms, median of ``--repeat`` runs): the split by key plus ``fast_verdict`` on
every part (pairing the ops included; reading the file excluded), every part checked (no stop at the first
failing one). Prints each corpus file's time, ``porcupine_ms`` from expected.csv and the ratio, then the median
and worst ratio per directory. Then generated 50-client kv histories (bench/kv_histories.py: 10 keys, 2,000 ops,
``ok``, ``bad`` with one stale read, and ``bad`` with two appends swapped in one read, a subtler corruption
that is not always caught: the verdict is printed): the whole history and the failing key alone. Porcupine was not run on
those (no Go here): the yardstick is its time on its own 50-client kv histories of the same shape (about 0.28 s
for a linearizable one, 45 ms for a non-linearizable one). ``--pure`` adds the pure-Python checker
(check_linearizable, one process) on the generated histories, with a 60 s limit.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kv_histories import kv_history  # noqa: E402
from splitbrain.checkers._lin_fast import fast_verdict, native_available  # noqa: E402
from splitbrain.checkers._lin_search import _Budget  # noqa: E402
from splitbrain.checkers.models import get_model  # noqa: E402
from splitbrain.history.importers import load_history  # noqa: E402


def verdicts(history, model_name: str, limit: float = 60.0) -> tuple[float, object, list]:
    """(CPU ms, combined verdict, per-part verdicts) of one check of every part."""
    m = get_model(model_name)
    t = time.process_time()
    client = [op for op in history if op.process != "nemesis"]
    parts = list(m.partition(client).values()) if m.splittable else [client]
    sub = m.per_key or m
    budget = _Budget(time.monotonic() + limit, None)
    got = [fast_verdict(p, sub, budget) for p in parts]
    ms = (time.process_time() - t) * 1000
    v = False if False in got else (None if None in got else True)
    return ms, v, got


def timed(history, model_name: str, repeat: int) -> tuple[float, object]:
    runs = [verdicts(history, model_name) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), runs[-1][1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.environ.get("SPLITBRAIN_CORPUS")
                    or str(Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=5, help="generated 50-client histories of each kind")
    ap.add_argument("--pure", action="store_true", help="also time the pure-Python checker on generated ones")
    args = ap.parse_args()
    print(f"native core: {'yes' if native_available() else 'NO (pure-Python fallback)'}")
    corpus = Path(args.corpus)
    rows = list(csv.DictReader(open(corpus / "expected.csv")))
    ratios: dict[str, list[float]] = {}
    wrong = 0
    print(f"{'file':22} {'verdict':>7} {'agree':>5} {'ms':>8} {'porcupine_ms':>12} {'ratio':>6}")
    for r in rows:
        h = load_history(corpus / r["file"])
        ms, v = timed(h, r["model"], args.repeat)
        ok = v is (r["linearizable"] == "true")
        wrong += not ok
        ratio = ms / float(r["porcupine_ms"])
        ratios.setdefault(r["file"].split("/")[0], []).append(ratio)
        print(f"{r['file']:22} {str(v):>7} {'yes' if ok else 'NO':>5} {ms:8.3f} {float(r['porcupine_ms']):12.3f} "
              f"{ratio:6.2f}")
    print()
    for group, rs in ratios.items():
        print(f"{group:5} files {len(rs):3}  median ratio {statistics.median(rs):.3f}  worst {max(rs):.2f}  "
              f"files slower than porcupine: {sum(1 for x in rs if x > 1.0)}")
    print(f"verdicts agreeing with expected.csv: {len(rows) - wrong}/{len(rows)}")
    print()

    kv = get_model("kv")
    for corrupt in (False, True, "swap"):
        label = {False: "ok", True: "bad", "swap": "bad (two appends swapped in one read)"}[corrupt]
        for seed in range(args.seeds):
            h = kv_history(seed, corrupt=corrupt)
            ms, v, got = verdicts(h, "kv")
            line = f"generated c50 {label} seed {seed}: {v} in {ms:.1f} ms ({len(h) // 2} ops)"
            if corrupt:
                parts = list(kv.partition(h).values())
                bad = parts[got.index(False)] if False in got else None
                if bad is not None:
                    t = time.process_time()
                    fast_verdict(bad, kv.per_key, _Budget(None, None))
                    line += f"; the failing key alone {(time.process_time() - t) * 1000:.2f} ms"
            if v is not True and not corrupt or v is not False and corrupt is True:
                wrong += 1
                line += "  WRONG"
            if args.pure:
                from splitbrain.checkers.linearizable import check_linearizable
                env = os.environ.get("SPLITBRAIN_PURE")
                os.environ["SPLITBRAIN_PURE"] = "1"
                try:
                    t = time.process_time()
                    res = check_linearizable(h, "kv", parallel=False, time_limit=60)
                    line += f"; pure-Python checker {res['valid']} in {(time.process_time() - t) * 1000:.0f} ms"
                finally:
                    if env is None:
                        del os.environ["SPLITBRAIN_PURE"]
                    else:
                        os.environ["SPLITBRAIN_PURE"] = env
            print(line)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
