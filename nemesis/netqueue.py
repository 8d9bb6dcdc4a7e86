"""The packet program behind the ``delay``, ``duplicate`` and ``reorder`` faults (tc netem is not available here).

Run inside a node's network namespace as ``python -m splitbrain.nemesis.netqueue --queue N ...``. The node's ``OUTPUT`` chain
sends the packets of the faulty links to NFQUEUE ``N`` (``splitbrain.nemesis.appliers.apply_link_fault``); this process takes
each one, holds it for the delay (plus a random jitter; with probability ``--reorder`` a further ``--reorder-ms`` so
that later packets overtake it), then lets it go; with probability ``--duplicate`` it also sends a copy of the
packet through a raw socket (marked ``--mark``, so the queue rule lets the copy pass instead of queueing it again).

Standalone on purpose: it imports nothing from the project (only the ``NetfilterQueue`` binding of
libnetfilter_queue and the standard library), so it can run wherever that binding is installed. The rules use
``--queue-bypass``: while no program is bound to the queue (before it starts, after it dies) packets pass unharmed.

Must not: run longer than ``--max-seconds`` (it exits by itself then), hold more than ``--max-held`` packets (the
rest pass at once), or keep packets it holds when told to stop (SIGTERM/SIGINT let every held packet go first).
On exit it prints one JSON line with its counts (packets, delayed, duplicated, reordered, passed).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import select
import signal
import socket
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m splitbrain.nemesis.netqueue")
    p.add_argument("--queue", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--duplicate", type=float, default=0.0, help="probability a packet is sent twice")
    p.add_argument("--reorder", type=float, default=0.0, help="probability a packet is held a further --reorder-ms")
    p.add_argument("--reorder-ms", type=float, default=20.0)
    p.add_argument("--mark", type=lambda s: int(s, 0), required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=3600.0)
    p.add_argument("--max-held", type=int, default=20000)
    return p.parse_args(argv)


def hold_seconds(rng: random.Random, args: argparse.Namespace) -> tuple[float, bool]:
    """How long one packet is held, and whether it was picked to be overtaken (pure given ``rng``)."""
    d = args.delay_ms + (rng.uniform(-args.jitter_ms, args.jitter_ms) if args.jitter_ms > 0 else 0.0)
    late = args.reorder > 0 and rng.random() < args.reorder
    if late:
        d += args.reorder_ms
    return max(0.0, d) / 1000.0, late


def main(argv: list[str] | None = None) -> int:
    from netfilterqueue import NetfilterQueue  # imported here so --help works without the binding

    args = parse_args(argv)
    rng = random.Random(args.seed)
    counts = {"packets": 0, "delayed": 0, "duplicated": 0, "reordered": 0, "passed": 0}
    held: list[tuple[float, int, object, bytes | None, str | None]] = []  # (due, seq, packet, copy, dst)
    seq = 0
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, args.mark)
    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # select() is retried after a signal (PEP 475), so a stop would wait out its timeout: the signal also writes
    # to this pipe, which select watches.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)

    def on_packet(pkt) -> None:
        nonlocal seq
        counts["packets"] += 1
        hold, late = hold_seconds(rng, args)
        copy = dst = None
        if args.duplicate > 0 and rng.random() < args.duplicate:
            pkt.retain()
            copy = pkt.get_payload()
            dst = socket.inet_ntoa(copy[16:20])
        if hold <= 0 or len(held) >= args.max_held:
            pkt.accept()
            counts["passed"] += 1
            send_copy(copy, dst)
            return
        counts["delayed"] += 1
        counts["reordered"] += late
        seq += 1
        heapq.heappush(held, (time.monotonic() + hold, seq, pkt, copy, dst))

    def send_copy(copy: bytes | None, dst: str | None) -> None:
        if copy is None:
            return
        try:
            raw.sendto(copy, (dst, 0))
            counts["duplicated"] += 1
        except OSError:
            pass  # a copy that cannot be sent is a packet lost, which the link may do anyway

    def release(until: float) -> None:
        while held and held[0][0] <= until:
            _, _, pkt, copy, dst = heapq.heappop(held)
            pkt.accept()
            send_copy(copy, dst)

    nfq = NetfilterQueue()
    nfq.bind(args.queue, on_packet, max_len=args.max_held)
    fd = nfq.get_fd()
    deadline = time.monotonic() + args.max_seconds
    print(json.dumps({"bound": args.queue}), flush=True)
    try:
        while not stop and time.monotonic() < deadline:
            now = time.monotonic()
            timeout = min(0.5, max(0.0, held[0][0] - now)) if held else 0.5
            try:
                ready, _, _ = select.select([fd, wake_r], [], [], timeout)
            except InterruptedError:
                continue
            if fd in ready:
                nfq.run(block=False)
            release(time.monotonic())
    finally:
        release(float("inf"))
        nfq.unbind()
        print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
