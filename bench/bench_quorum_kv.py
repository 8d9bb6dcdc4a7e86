"""Benchmark: throughput and latency of the quorum KV store, 3 replicas on loopback, no faults.

    .venv/bin/python bench/bench_quorum_kv.py [--seconds 10] [--clients 16] [--variant correct] [--keys 100]

A closed loop: C clients (the harness' own QuorumKVClient, kv workload), spread round-robin over the nodes, each with
one op in flight, half reads and half writes on random keys, for a fixed time and at most --max-ops ops. Prints
ops/s and p50/p99 latency per op type, and the same as one JSON line. The clients run in this process on the same
machine as the three nodes, so they share its cores: the numbers are for the whole loop, not the store alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.harness.api import Invocation, NodeAddress  # noqa: E402
from splitbrain.harness.systems.quorum_kv import QuorumKV  # noqa: E402
from splitbrain.systems_under_test.quorum_kv.launch import LocalCluster  # noqa: E402


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _load(cluster: LocalCluster, variant: str, clients: int, seconds: float, keys: int, max_ops: int,
                read_fraction: float, seed: int) -> dict:
    system = QuorumKV()
    lat: dict[str, list[float]] = {"read": [], "write": []}
    outcomes: dict[str, dict[str, int]] = {"read": {}, "write": {}}
    budget = [max_ops]
    end = time.monotonic() + seconds

    async def worker(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        name = cluster.names[i % len(cluster.names)]
        client = system.client(variant, {"workload": "kv"})
        await client.open(NodeAddress(name, *cluster.addrs[name]))
        try:
            while time.monotonic() < end and budget[0] > 0:
                budget[0] -= 1
                key = rng.randrange(keys)
                op = (Invocation("read", key=key) if rng.random() < read_fraction
                      else Invocation("write", rng.randrange(1_000_000), key=key))
                t0 = time.perf_counter()
                done = await client.invoke(op, 2.0)
                dt = time.perf_counter() - t0
                counts = outcomes[op.f]
                counts[done.type] = counts.get(done.type, 0) + 1
                if done.type == "ok":
                    lat[op.f].append(dt)
        finally:
            await client.close()

    pids = [p.pid for p in cluster.procs.values()]
    cpu0 = sum(_cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    elapsed = time.monotonic() - t0
    node_cpu = sum(_cpu_seconds(p) for p in pids) - cpu0
    total = sum(sum(c.values()) for c in outcomes.values())
    # CPU per op is the steadier number on a shared machine: throughput moves with everyone else's load
    out = {"variant": variant, "nodes": len(cluster.names), "clients": clients, "seconds": round(elapsed, 2),
           "ops": total, "ops_per_s": round(total / elapsed, 1),
           "node_cpu_ms_per_op": round(node_cpu / max(total, 1) * 1e3, 3), "by_f": {}}
    for f in ("read", "write"):
        xs = lat[f]
        out["by_f"][f] = {
            "outcomes": outcomes[f], "ok_per_s": round(len(xs) / elapsed, 1),
            "p50_ms": round(_pct(xs, 0.50) * 1e3, 2) if xs else None,
            "p99_ms": round(_pct(xs, 0.99) * 1e3, 2) if xs else None,
            "mean_ms": round(statistics.fmean(xs) * 1e3, 2) if xs else None,
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--variant", default="correct", choices=sorted(QuorumKV.variants))
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--read-fraction", type=float, default=0.5)
    ap.add_argument("--max-ops", type=int, default=2_000_000, help="hard cap on ops, whatever the time")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not (0 < args.seconds <= 600 and 1 <= args.clients <= 1000):
        ap.error("--seconds must be in (0, 600] and --clients in [1, 1000]")
    with LocalCluster(args.variant, 3) as cluster:
        cluster.start_all()
        res = asyncio.run(_load(cluster, args.variant, args.clients, args.seconds, args.keys, args.max_ops,
                                args.read_fraction, args.seed))
    print(f"quorum-kv {res['variant']}: {res['nodes']} nodes, {res['clients']} clients, {res['seconds']} s: "
          f"{res['ops']} ops, {res['ops_per_s']} ops/s, {res['node_cpu_ms_per_op']} ms node CPU per op")
    for f, r in res["by_f"].items():
        print(f"  {f:5}  ok/s {r['ok_per_s']:>8}  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  outcomes {r['outcomes']}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
