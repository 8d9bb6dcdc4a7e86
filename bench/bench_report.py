"""Benchmark of report rendering on a large synthetic run.

    .venv/bin/python bench/bench_report.py [--ops 100000] [--keep DIR]

Writes a run directory with ``--ops`` client ops (each an invoke and a completion, so twice as many history
lines), 10 worker threads over 5 minutes, 50 keys, ~2% fail and ~1% info (crashed processes come back under new
ids, so lanes fold into workers), a partition every 20 s and leader changes, and a results.json with a
linearizability failure near the end. Then measures: the time to write report.html (load + render, median of 3),
its size, and in headless chromium the time from navigation start until the page's script has drawn every plot
(``window.__renderedMs``), plus the wall time from ``goto`` until then. Nothing here is asserted; it prints.
Also prints CPU time of the render, which a busy shared machine distorts less than wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.history.ops import Op, write_history  # noqa: E402
from splitbrain.reports import render_report  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MS = 1_000_000


def make_big_run(root: Path, n_ops: int, *, concurrency: int = 10, seconds: float = 300.0, seed: int = 1) -> Path:
    rng = random.Random(seed)
    run = root / "bench" / "20240101T000000"
    (run / "nodes" / "n1").mkdir(parents=True)
    (run / "nodes" / "n1" / "node.log").write_text("started\n")
    gap = seconds * 1e9 * concurrency / n_ops           # mean ns between one worker's ops
    events: list[tuple[int, int, object, str, str, object, str | None, str | None]] = []
    proc = list(range(concurrency))
    for w in range(concurrency):
        t = rng.uniform(0, gap)
        for _ in range(n_ops // concurrency):
            f = rng.choice(("read", "write", "cas"))
            key = f"k{rng.randrange(50)}"
            v = None if f == "read" else rng.randrange(5) if f == "write" else [rng.randrange(5), rng.randrange(5)]
            lat = int(rng.lognormvariate(15, 0.8))        # ~3 ms median, long tail
            r = rng.random()
            typ = "info" if r < 0.01 else "fail" if r < 0.03 else "ok"
            res = rng.randrange(5) if f == "read" and typ == "ok" else v
            p = proc[w]
            events.append((int(t), 0, p, "invoke", f, v, key, None))
            events.append((int(t) + lat, 1, p, typ, f, res, key, "timeout" if typ == "info" else
                           "cas-mismatch" if typ == "fail" else None))
            if typ == "info":
                proc[w] += concurrency
            t += lat + rng.expovariate(1 / gap) * 0.5
    for s in range(10, int(seconds), 20):
        plan = {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
        events.append((s * 10**9, 0, "nemesis", "invoke", "start-partition", plan, None, None))
        events.append((s * 10**9 + MS, 1, "nemesis", "ok", "start-partition", plan, None, None))
        events.append(((s + 8) * 10**9, 0, "nemesis", "invoke", "stop-partition", None, None, None))
        events.append(((s + 8) * 10**9 + MS, 1, "nemesis", "ok", "stop-partition", None, None, None))
    events.sort(key=lambda e: (e[0], e[1]))
    ops = [Op(i, t, p, ty, f, v, "n1", key, err) for i, (t, _, p, ty, f, v, key, err) in enumerate(events)]
    write_history(run / "history.jsonl", ops)
    with open(run / "annotations.jsonl", "w") as fh:
        for term, s in enumerate(range(0, int(seconds), 20), start=1):
            fh.write(json.dumps({"time": (s + 9) * 10**9, "kind": "leader", "node": f"n{term % 3 + 1}",
                                 "term": term}) + "\n")
    (run / "test.json").write_text(json.dumps({
        "name": "bench", "system": "raft-kv", "variant": "stale-reads", "workload": "kv", "nodes": ["n1", "n2", "n3"],
        "nemesis": ["partition"], "seed": seed, "time_limit": seconds, "concurrency": concurrency,
        "command": "splitbrain run --system raft-kv --variant stale-reads --seed 1"}))
    # A failure near the end on one key: the last few ops of that key.
    key = "k7"
    last = [o.index for o in ops if o.key == key and o.process != "nemesis"][-8:]
    invokes = [i for i in last if ops[i].type == "invoke"]
    (run / "results.json").write_text(json.dumps({"valid": False, "results": {"linearizable": {
        "valid": False, "checker": "linearizable", "model": "cas-register", "ops": len(ops), "check_ms": 1234,
        "partitions": 50, "failure": {"key": key, "explanation": "synthetic failure for the benchmark",
                                      "window": last, "longest_prefix": invokes[:-1],
                                      "states": list(range(len(invokes) - 1)), "stuck_op": invokes[-1],
                                      "state_before": 3}}}}))
    return run


def browser_time(report: Path) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright
    user_data = tempfile.mkdtemp(prefix="splitbrain-bench-")
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(user_data, executable_path=CHROMIUM, args=ARGS,
                                                        headless=True, viewport={"width": 1300, "height": 900})
            try:
                page = ctx.new_page()
                t0 = time.monotonic()
                page.goto(report.as_uri(), timeout=120_000)
                while not page.evaluate("window.__rendered === true"):
                    if time.monotonic() - t0 > 120:
                        raise TimeoutError("the report did not render in 120 s")
                    page.wait_for_timeout(10)
                wall = time.monotonic() - t0
                return page.evaluate("window.__renderedMs") / 1000, wall
            finally:
                ctx.close()
    finally:
        shutil.rmtree(user_data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="write the run here and keep it (default: a temp dir, removed)")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="splitbrain-bench-report-"))
    try:
        run = make_big_run(root, args.ops)
        lines = sum(1 for _ in open(run / "history.jsonl"))
        times, cpu = [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            report = render_report(run)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        print(f"history: {args.ops:,} client ops, {lines:,} lines, "
              f"{(run / 'history.jsonl').stat().st_size / 1e6:.1f} MB")
        print(f"write report.html: median {statistics.median(times):.2f} s (runs: "
              f"{', '.join(f'{x:.2f}' for x in times)}); CPU time median {statistics.median(cpu):.2f} s "
              "(wall time suffers when the machine is shared)")
        print(f"report.html size: {report.stat().st_size / 1e6:.2f} MB")
        if Path(CHROMIUM).exists():
            rendered, wall = browser_time(report)
            print(f"chromium: rendered {rendered:.2f} s after navigation start ({wall:.2f} s from goto)")
        else:
            print("chromium: not found, browser time not measured")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
