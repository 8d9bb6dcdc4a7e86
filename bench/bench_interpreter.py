"""Benchmark: ops/s the interpreter sustains with no-op workers (history written to a real temp file), and ops/s
of the pure generator stack alone (in the simulator and by bare op/update calls).

    .venv/bin/python bench/bench_interpreter.py [--seconds 3] [--concurrency 10]

Goal (Jepsen's anchor): at least 20,000 ops/s through the interpreter. An "op" is one invoke plus its completion.
Each line gives wall-clock ops/s and ops per CPU-second of this process (what it sustains with a core to itself:
on a machine shared with other work the wall figure only says how busy the machine was). The load average is
printed first for that reason.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.harness import generator as gen  # noqa: E402
from splitbrain.harness.api import Completion  # noqa: E402
from splitbrain.history.ops import HistoryWriter, read_history  # noqa: E402
from splitbrain.harness.run.interpreter import run  # noqa: E402

_OK = Completion("ok", None)


class NoopWorker:
    """Completes every op at once without suspending: measures the interpreter, not a system."""

    async def invoke(self, process, op):
        return _OK


class YieldWorker:
    """Suspends once (as any real network call does) before completing."""

    async def invoke(self, process, op):
        await asyncio.sleep(0)
        return _OK


def client_op(ctx):
    rng = ctx.rng
    if rng.random() < 0.5:
        return {"f": "read", "key": "r"}
    return {"f": "write", "key": "r", "value": rng.randrange(5)}


def typical(seconds: float):
    """The shape a real test has: a timed main phase of client ops alongside a fault cycle, then a final phase."""

    class FakeFault:
        def start_op(self, rng, nodes, leader=None):
            from splitbrain.harness.api import Invocation
            return Invocation("start-partition", {"n1": ["n2"]})

        def stop_op(self, rng, nodes, leader=None):
            from splitbrain.harness.api import Invocation
            return Invocation("stop-partition", None)

    faults = [FakeFault()]
    return gen.phases(
        gen.time_limit(seconds, gen.any_of(gen.clients(client_op),
                                           gen.nemesis_cycle(faults, 0.5, 0.2, nodes=["n1", "n2", "n3"]))),
        gen.final_phase({"f": "read", "key": "r"}, heal=True))


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


async def bench_interpreter(seconds: float, concurrency: int, worker_cls) -> tuple[Timer, int]:
    with tempfile.TemporaryDirectory(prefix="splitbrain-bench-") as d:
        path = os.path.join(d, "history.jsonl")
        workers = {t: worker_cls() for t in range(concurrency)}
        workers["nemesis"] = worker_cls()
        with HistoryWriter(path) as h:
            with Timer() as t:
                stats = await run(typical(seconds), workers=workers, history=h, rng=random.Random(1),
                                  concurrency=concurrency)
        ops = read_history(path)  # validates: the benchmark must also produce a legal history
        assert stats.abandoned == 0 and len(ops) == 2 * stats.invoked
    return t, stats.invoked


def bench_simulator(seconds: float, concurrency: int) -> tuple[Timer, int]:
    with Timer() as t:
        h = gen.simulate(typical(seconds * 100), concurrency=concurrency, latency=1_000_000, max_ops=200_000)
    return t, sum(1 for op in h if op.type == "invoke")


def bench_bare(n: int, concurrency: int) -> tuple[Timer, int]:
    """One op and two updates (its invoke and completion) through the typical stack, without any history: the
    generator's and scheduler's own cost."""
    from splitbrain.history.ops import Op
    sched = gen.Scheduler(typical(1e6), concurrency=concurrency, nemesis=True, rng=random.Random(1))
    now = 0
    k = 0
    with Timer() as t:
        for _ in range(n):
            x = sched.next(now)
            if type(x) is gen.GenOp:
                k += 1
                ev = Op(0, now, x.process, "invoke", x.f, x.value, None, x.key, None)
                sched.started(x, ev, now)
                sched.completed(Op(0, now, x.process, "ok", x.f, x.value, None, x.key, None), now)
            now += 1000
    return t, k


def line(label: str, t: Timer, n: int) -> None:
    print(f"{label:40s} {n / t.wall:10,.0f} ops/s wall {n / t.cpu:10,.0f} ops/cpu-s  ({n} ops)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=10)
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; concurrency {a.concurrency}")
    line("interpreter, no-op worker, history file", *asyncio.run(bench_interpreter(a.seconds, a.concurrency,
                                                                                   NoopWorker)))
    line("interpreter, worker that yields once", *asyncio.run(bench_interpreter(a.seconds, a.concurrency,
                                                                                YieldWorker)))
    line("simulator (generator + scheduler)", *bench_simulator(a.seconds, a.concurrency))
    line("generator alone (op + 2 updates)", *bench_bare(200_000, a.concurrency))


if __name__ == "__main__":
    main()
