"""A UDP ping-pong between two nodes' hosts: measures what a slow-network fault does to a link (round-trip times,
duplicated and lost packets). Used by the tests and ``bench/bench_links.py``.

``python -m splitbrain.nemesis.linkprobe server --port P`` echoes every datagram back (for at most ``--max-seconds``);
``python -m splitbrain.nemesis.linkprobe client --host H --port P --count N`` sends N numbered datagrams one at a time, waits
for each one's echo (up to ``--timeout``), then listens ``--drain`` seconds more, and prints one JSON line:
``{"sent", "answered", "replies" (all echoes, duplicates included), "rtt_ms": [...]}``. ``sink``/``send`` time one
TCP transfer (for the rate fault: a ping-pong of single packets fits in htb's burst). Standard library only.

:func:`measure` runs both through a cluster: the server as a recorded helper on one node, the client with
``Host.exec`` on the other (on SSH hosts, this file is shipped and run by the host's python:
:mod:`splitbrain.nemesis.remote_code`). Must not: run unbounded (counts and times are capped).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

PORT = 7999
HELPER = "linkprobe"


def serve(port: int, max_seconds: float) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        s.sendto(data, peer)


def sink(port: int, max_seconds: float) -> None:
    """TCP: read each connection to its end, then answer with the number of bytes read."""
    srv = socket.create_server(("0.0.0.0", port))
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        srv.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        with conn:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            n = 0
            try:
                while chunk := conn.recv(65536):
                    n += len(chunk)
                    if chunk.endswith(b"\n"):
                        break
                conn.sendall(f"{n}\n".encode())
            except OSError:
                continue


def send(host: str, port: int, nbytes: int, timeout: float) -> dict:
    """TCP: send ``nbytes`` (the last one a newline), wait for the sink's count; the kbit/s it took."""
    t0 = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"x" * (nbytes - 1) + b"\n")
        got = int(s.makefile().readline() or 0)
    secs = time.monotonic() - t0
    return {"bytes": nbytes, "received": got, "seconds": round(secs, 4), "kbit_s": round(nbytes * 8 / 1000 / secs, 1)}


def ping(host: str, port: int, count: int, timeout: float, drain: float, size: int) -> dict:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtts, replies, answered = [], 0, 0
    pad = b"x" * max(0, size - 12)
    for seq in range(count):
        t0 = time.monotonic()
        s.sendto(seq.to_bytes(8, "big") + b"ping" + pad, (host, port))
        deadline = t0 + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, _ = s.recvfrom(4096)
            except socket.timeout:
                break
            replies += 1
            if int.from_bytes(data[:8], "big") == seq:
                rtts.append(round((time.monotonic() - t0) * 1000.0, 3))
                answered += 1
                break
    end = time.monotonic() + drain
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            s.recvfrom(4096)
            replies += 1
        except socket.timeout:
            pass
    return {"sent": count, "answered": answered, "replies": replies, "rtt_ms": rtts}


def _program(cluster: "Cluster", node: str) -> list[str]:
    """The argv prefix that runs this module on ``node``'s host."""
    # here, not at the top: this file is shipped to remote hosts and run there alone, where the project isn't
    from splitbrain.nemesis import remote_code
    if remote_code.is_remote(cluster):
        return remote_code.ship(cluster, node, "linkprobe")
    return [sys.executable, "-m", "splitbrain.nemesis.linkprobe"]


def measure(cluster: "Cluster", src: str, dst: str, count: int = 20, *, timeout: float = 2.0, drain: float = 0.5,
            size: int = 64) -> dict:
    """Ping-pong from ``src`` to ``dst`` (``count`` at most 10000); the server is stopped afterwards."""
    count = max(1, min(int(count), 10_000))
    cluster.start_helper(dst, HELPER, [*_program(cluster, dst), "server", "--port", str(PORT),
                                       "--max-seconds", str(min(600.0, count * timeout + 30.0))])
    try:
        base = [*_program(cluster, src), "client", "--host", cluster.host(dst).address,
                "--port", str(PORT), "--size", str(size)]
        argv = base + ["--count", str(count), "--timeout", str(timeout), "--drain", str(drain)]
        # The server may take a moment to bind: warm up with single pings until one is answered (bounded).
        for _ in range(20):
            warm = cluster.host(src).exec(base + ["--count", "1", "--timeout", "0.5", "--drain", "0"], timeout=10.0)
            if json.loads(warm.stdout)["answered"]:
                break
        res = cluster.host(src).exec(argv, timeout=count * timeout + drain + 30.0)
        return json.loads(res.stdout)
    finally:
        cluster.stop_helper(dst, HELPER)


def throughput(cluster: "Cluster", src: str, dst: str, nbytes: int = 64_000, timeout: float = 60.0) -> dict:
    """One TCP transfer of ``nbytes`` (at most 10 MB) from ``src`` to ``dst``: how long it took, in kbit/s."""
    nbytes = max(2, min(int(nbytes), 10_000_000))
    cluster.start_helper(dst, HELPER, [*_program(cluster, dst), "sink", "--port", str(PORT),
                                       "--max-seconds", str(timeout + 30.0)])
    try:
        argv = [*_program(cluster, src), "send", "--host", cluster.host(dst).address,
                "--port", str(PORT), "--bytes", str(nbytes), "--timeout", str(timeout)]
        for _ in range(20):  # the sink may take a moment to listen
            res = cluster.host(src).exec(argv[:-4] + ["--bytes", "2", "--timeout", "2"], timeout=10.0, check=False)
            if res.returncode == 0:
                break
            time.sleep(0.1)
        return json.loads(cluster.host(src).exec(argv, timeout=timeout + 10.0).stdout)
    finally:
        cluster.stop_helper(dst, HELPER)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m splitbrain.nemesis.linkprobe")
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("server")
    sv.add_argument("--port", type=int, default=PORT)
    sv.add_argument("--max-seconds", type=float, default=60.0)
    cl = sub.add_parser("client")
    cl.add_argument("--host", required=True)
    cl.add_argument("--port", type=int, default=PORT)
    cl.add_argument("--count", type=int, default=20)
    cl.add_argument("--timeout", type=float, default=2.0)
    cl.add_argument("--drain", type=float, default=0.5)
    cl.add_argument("--size", type=int, default=64)
    sk = sub.add_parser("sink")
    sk.add_argument("--port", type=int, default=PORT)
    sk.add_argument("--max-seconds", type=float, default=60.0)
    sd = sub.add_parser("send")
    sd.add_argument("--host", required=True)
    sd.add_argument("--port", type=int, default=PORT)
    sd.add_argument("--bytes", type=int, default=64_000)
    sd.add_argument("--timeout", type=float, default=60.0)
    a = p.parse_args(argv)
    if a.cmd == "server":
        serve(a.port, min(a.max_seconds, 3600.0))
    elif a.cmd == "sink":
        sink(a.port, min(a.max_seconds, 3600.0))
    elif a.cmd == "send":
        print(json.dumps(send(a.host, a.port, min(a.bytes, 10_000_000), a.timeout)))
    else:
        print(json.dumps(ping(a.host, a.port, min(a.count, 10_000), a.timeout, a.drain, a.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
