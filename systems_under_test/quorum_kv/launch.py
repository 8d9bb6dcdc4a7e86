"""A loopback cluster of this store as child processes, for tests and benchmarks (not used by the harness, which
starts nodes through its own hosts).

Contract: every process it starts is its own child, remembered by pid, and only those are signalled; ``close()``
(also on ``with`` exit) kills them all, waits for them and removes the temporary directory, and is safe to call
twice. Nodes listen on 127.0.0.1 only. A node's data directory survives ``kill``/``start`` (that is the point).
This module runs in the controlling process, not in a node, so it may use blocking calls and ``time.sleep``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[2])


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LocalCluster:
    def __init__(self, variant: str = "correct", n: int = 3, extra: dict | None = None,
                 python: str = sys.executable):
        self.variant = variant
        self.python = python
        self.base = tempfile.mkdtemp(prefix="quorum-kv-")
        self.names = [f"n{i + 1}" for i in range(n)]
        ports = _free_ports(n)
        self.addrs = {name: ("127.0.0.1", port) for name, port in zip(self.names, ports)}
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}
        for name in self.names:
            data = os.path.join(self.base, name)
            os.makedirs(data)
            cfg = {"node": name, "listen": list(self.addrs[name]),
                   "nodes": {m: list(a) for m, a in self.addrs.items()}, "variant": variant, "data_dir": data,
                   **(extra or {})}
            with open(self.config_path(name), "w", encoding="utf-8") as f:
                json.dump(cfg, f)

    def config_path(self, name: str) -> str:
        return os.path.join(self.base, f"{name}.json")

    def data_dir(self, name: str) -> str:
        return os.path.join(self.base, name)

    def log_path(self, name: str) -> str:
        return os.path.join(self.base, f"{name}.log")

    # ---------------------------------------------------------------------------------------------- processes

    def start(self, name: str, env: dict | None = None, wait: bool = True) -> None:
        """Start (or restart) one node; ``env`` adds variables (e.g. libfaketime's)."""
        assert name not in self.procs or self.procs[name].poll() is not None, f"{name} is running"
        log = open(self.log_path(name), "ab")
        self._logs[name] = log
        full_env = {**os.environ, "PYTHONPATH": _REPO_ROOT, **(env or {})}
        self.procs[name] = subprocess.Popen(
            [self.python, "-m", "splitbrain.systems_under_test.quorum_kv.server", "--config", self.config_path(name)],
            cwd=self.data_dir(name), env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if wait:
            self.wait_ready(name)

    def start_all(self, env: dict | None = None) -> None:
        for name in self.names:
            self.start(name, env, wait=False)
        for name in self.names:
            self.wait_ready(name)

    def kill(self, name: str) -> None:
        """SIGKILL one node and reap it (its data directory stays)."""
        p = self.procs.get(name)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGCONT)  # a stopped process would otherwise linger as a zombie-to-be
            p.kill()
            p.wait(10)

    def pause(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGCONT)

    def wait_ready(self, name: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            p = self.procs[name]
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}: {self.log_tail(name)}")
            try:
                if self.request(name, {"type": "status"}, timeout=1.0).get("ok"):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout}s: {self.log_tail(name)}")
            time.sleep(0.05)

    def log_tail(self, name: str, n: int = 2000) -> str:
        try:
            with open(self.log_path(name), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        for name in list(self.procs):
            try:
                self.kill(name)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.procs.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- requests

    def request(self, name: str, msg: dict, timeout: float = 10.0) -> dict:
        """One blocking request on a fresh connection; the reply dict. Raises OSError/TimeoutError on transport
        trouble."""
        with socket.create_connection(self.addrs[name], timeout=timeout) as s:
            s.sendall((json.dumps({**msg, "id": 1}) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionResetError(f"{name} closed the connection")
                buf += chunk
        return json.loads(buf)
