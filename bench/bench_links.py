"""How accurate are the slow-network faults? On a 2-node local cluster, measures with the UDP ping-pong probe the
one-way delay added by ``delay`` at 10, 50, 100 and 200 ms (both directions delayed: half the added RTT), the share
of duplicated pings under ``duplicate``, and the TCP throughput under ``rate``. Prints one line per case.

    .venv/bin/python bench/bench_links.py --pings 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splitbrain.harness.api import Invocation  # noqa: E402
from splitbrain.harness.hosts.local_cluster import create_local_cluster  # noqa: E402
from splitbrain.nemesis import apply, heal_all  # noqa: E402
from splitbrain.nemesis.linkprobe import measure, throughput  # noqa: E402

BOTH = {"n1": ["n2"], "n2": ["n1"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pings", type=int, default=20)
    args = ap.parse_args()
    with create_local_cluster(2) as c:
        base = statistics.median(measure(c, "n1", "n2", args.pings)["rtt_ms"])
        print(f"baseline RTT median {base:.3f} ms")
        for ms in (10, 50, 100, 200):
            apply(c, Invocation("start-delay", {"grudge": BOTH, "delay_ms": ms}))
            rtts = measure(c, "n1", "n2", args.pings)["rtt_ms"]
            added = [(r - base) / 2 for r in rtts]
            med = statistics.median(added)
            print(f"delay {ms:4d} ms: added one-way median {med:7.2f} ms, min {min(added):7.2f}, max {max(added):7.2f}"
                  f" (error {100 * (med - ms) / ms:+.1f}%)")
        for p in (0.2, 0.5):
            apply(c, Invocation("start-duplicate", {"grudge": {"n2": ["n1"]}, "duplicate": p}))
            m = measure(c, "n1", "n2", 10 * args.pings, timeout=1.0)
            print(f"duplicate {p}: {m['replies'] - m['answered']} extra replies to {m['answered']} pings "
                  f"({(m['replies'] - m['answered']) / max(1, m['answered']):.2f})")
        heal_all(c)
        for kbit in (256, 1024):
            apply(c, Invocation("start-rate", {"grudge": {"n2": ["n1"]}, "kbit": kbit}))
            t = throughput(c, "n1", "n2", kbit * 1000 // 8 * 2)
            print(f"rate {kbit} kbit/s: measured {t['kbit_s']} kbit/s ({100 * (t['kbit_s'] - kbit) / kbit:+.1f}%)")
        heal_all(c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
