"""Benchmark the causal and convergence checkers on histories from a simulated causally consistent store.

Usage: ``.venv/bin/python bench/bench_crdt.py [ops] [sessions]`` (defaults 20000 and 20). Prints seconds per checker
and ops/s. The simulation is the one the property tests use: 3 replicas, causal delivery, LWW by Lamport clock.
"""

from __future__ import annotations

import random
import sys
import time

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from splitbrain.checkers.causal import check_causal  # noqa: E402
from splitbrain.checkers.convergence import check_convergence  # noqa: E402
from tests.test_causal import _SimStore  # noqa: E402
from tests.test_crdt_histories import H  # noqa: E402


def history(n_ops: int, sessions: int, seed: int = 1):
    rng = random.Random(seed)
    sim, h, v = _SimStore(3), H(), 0
    while len(h.ops) < 2 * n_ops:
        p = rng.randrange(sessions)
        r, key = p % 3, f"k{rng.randrange(8)}"
        roll = rng.random()
        if roll < 0.4:
            v += 1
            sim.write(r, key, v)
            h.w(p, key, v)
        elif roll < 0.8:
            h.r(p, key, sim.read(r, key))
        else:
            for _ in range(3):
                sim.deliver_one(rng.randrange(3), rng)
    for r in range(3):
        while sim.deliverable(r):
            sim.deliver_one(r, rng)
    for key in (f"k{i}" for i in range(8)):
        for r in range(3):
            h.op(1000 + r, "final-read", result=sim.read(r, key), key=key, node=f"n{r + 1}")
    return h.ops


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    ops = history(n, s)
    for model in ("CC", "CCv", "CM"):
        t = time.perf_counter()
        res = check_causal(ops, model=model, time_limit=300)
        dt = time.perf_counter() - t
        print(f"causal {model:3}: {n} ops, {s} sessions: {dt:.2f} s ({n / dt:,.0f} ops/s) valid={res['valid']}")
    t = time.perf_counter()
    res = check_convergence(ops, datatype="register")
    dt = time.perf_counter() - t
    print(f"convergence: {dt:.3f} s valid={res['valid']}")


if __name__ == "__main__":
    main()
