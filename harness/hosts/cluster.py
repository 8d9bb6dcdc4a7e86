"""A cluster: named nodes on hosts, their processes, and the process/clock faults the nemesis needs.

:class:`Cluster` is mode-independent: it reaches hosts only through :class:`splitbrain.harness.api.Host` and is torn
down by the ``teardown`` it is given, so it knows neither namespaces nor SSH nor cleanup. Clusters are made by
:mod:`splitbrain.harness.hosts.local_cluster` (network namespaces on this machine; also ``attach`` to a running one)
and :mod:`splitbrain.harness.hosts.ssh_cluster` (SSH hosts).

Every node runs under libfaketime (``LD_PRELOAD`` of Debian's ``libfaketime.so.1``, found on the host at run time)
with ``FAKETIME_TIMESTAMP_FILE`` pointing at a per-node file, ``FAKETIME_NO_CACHE=1`` so a new offset is seen by
the running process at once, and ``DONT_FAKE_MONOTONIC=1`` so asyncio's timers do not jump (see docs/ARCHITECTURE.md: under
this setting ``time.sleep`` fails with EINVAL; node code sleeps with ``asyncio.sleep``). libfaketime does not
reach statically linked programs (most Go binaries): their clocks cannot be moved this way.

Layout on each host: ``<workdir>/nodes/<node>/`` holds ``node.stdout.log``, ``node.stderr.log``, ``faketime.rc``,
the node's config and ``data/`` (the process's cwd and data dir, kept across restarts).

Must not: signal a process it did not start (handles carry pid start times), or leave anything behind when used
as a context manager, unless ``leave_running`` is set.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from splitbrain.harness.api import Host, NodeAddress, ProcessHandle, System, node_config
from splitbrain.harness.hosts.resources import StateStore
from splitbrain.history.errors import BadInput, ClusterError

log = logging.getLogger(__name__)

FAKETIME_GLOBS = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                  "/usr/local/lib/faketime/libfaketime.so.1")


@runtime_checkable
class ShipsCode(Protocol):
    """Optional host capability: a host with a filesystem and interpreter of its own (an SSH host).
    :meth:`Cluster.start_system` ships the system's package to it with ``upload_package`` (which returns the
    directory to put on ``PYTHONPATH``) and starts its node with the host's ``python``."""

    python: str

    def upload_package(self, package: str) -> str: ...


def _fmt_offset(seconds: float) -> str:
    """libfaketime's relative offset syntax: a signed number of seconds (fractions allowed)."""
    return f"{seconds:+.6f}"


class Cluster:
    """Nodes on hosts. Methods are blocking and bounded in time; call them from a thread in asyncio code."""

    def __init__(self, run_id: str, hosts: dict[str, Host], *, store: StateStore, workdir: str,
                 teardown: Callable[[], None], faketime: bool = True, leave_running: bool = False):
        self.run_id = run_id
        self._hosts = dict(hosts)
        self.store = store
        self.workdir = workdir
        self._teardown = teardown
        self.faketime = faketime
        #: If True, leaving the ``with`` block does not tear the cluster down (``splitbrain cluster up``).
        self.leave_running = leave_running
        self._handles: dict[str, ProcessHandle] = {}
        self._faketime_lib: str | None = None
        self._down = False
        state = store.read(run_id) or {}
        for node, rec in (state.get("nodes") or {}).items():
            if rec.get("pid"):
                self._handles[node] = ProcessHandle(node, rec["pid"], rec["pgid"], rec.get("argv") or [],
                                                    rec.get("start_time"))

    # ------------------------------------------------------------------------------------------------- topology

    @property
    def nodes(self) -> list[str]:
        return list(self._hosts)

    @property
    def hosts(self) -> dict[str, Host]:
        return dict(self._hosts)

    def host(self, node: str) -> Host:
        try:
            return self._hosts[node]
        except KeyError:
            raise BadInput(f"no node {node!r} in this cluster (nodes: {', '.join(self._hosts)})", "node") from None

    def addresses(self, port: int) -> list[NodeAddress]:
        """Every node's address with ``port`` (all nodes of a shipped system listen on the same port)."""
        return [NodeAddress(n, h.address, port) for n, h in self._hosts.items()]

    def node_dir(self, node: str) -> str:
        self.host(node)
        return os.path.join(self.workdir, "nodes", node)

    def data_dir(self, node: str) -> str:
        return os.path.join(self.node_dir(node), "data")

    def state(self) -> dict:
        return self.store.read(self.run_id) or {}

    def _node_state(self, node: str) -> dict:
        return (self.state().get("nodes") or {}).get(node) or {}

    def _update_node(self, node: str, **fields) -> None:
        def change(state: dict) -> None:
            state.setdefault("nodes", {}).setdefault(node, {}).update(fields)
        self.store.update(self.run_id, change)

    # ------------------------------------------------------------------------------------------------- processes

    def _faketime_path(self, node: str) -> str:
        if self._faketime_lib is None:
            host = next(iter(self._hosts.values()))
            res = host.exec(["sh", "-c", "ls " + " ".join(FAKETIME_GLOBS) + " 2>/dev/null | head -n 1"],
                            check=False)
            self._faketime_lib = res.stdout.strip()
            if not self._faketime_lib:
                raise ClusterError("libfaketime.so.1 not found on the host (install Debian's 'libfaketime' package)")
        return self._faketime_lib

    def _clock_file(self, node: str) -> str:
        return os.path.join(self.node_dir(node), "faketime.rc")

    def start(self, node: str, argv: list[str], env: dict[str, str] | None = None) -> ProcessHandle:
        """Start ``argv`` as ``node``'s process (cwd: its data dir) and record pid/pgid. ClusterError if it already
        runs. The argv and env are remembered for :meth:`restart`."""
        host = self.host(node)
        if self.is_running(node):
            raise ClusterError(f"{node} is already running (pid {self._handles[node].pid})")
        env = dict(env or {})
        full_env = dict(env)
        if self.faketime:
            clock_file = self._clock_file(node)
            offset = float(self._node_state(node).get("clock_offset") or 0.0)
            host.write_file(clock_file, _fmt_offset(offset) + "\n")
            preload = self._faketime_path(node)
            full_env.update({
                "LD_PRELOAD": ":".join(p for p in (preload, env.get("LD_PRELOAD")) if p),
                "FAKETIME_TIMESTAMP_FILE": clock_file,
                "FAKETIME_NO_CACHE": "1",
                "DONT_FAKE_MONOTONIC": "1",
            })
        cwd = self.data_dir(node)
        log_prefix = os.path.join(self.node_dir(node), "node")
        handle = host.spawn(list(argv), workdir=cwd, env=full_env, log_prefix=log_prefix)
        self._handles[node] = handle
        self._update_node(node, argv=list(argv), env=env, cwd=cwd, log_prefix=log_prefix, pid=handle.pid,
                          pgid=handle.pgid, start_time=handle.start_time, paused=False, started=time.time())
        return handle

    def is_running(self, node: str) -> bool:
        handle = self._handles.get(node)
        return handle is not None and self.host(node).alive(handle)

    def kill(self, node: str, timeout: float = 5.0) -> bool:
        """SIGKILL the node's whole process group and wait (bounded) until it is gone. Returns whether it ran."""
        handle = self._handles.get(node)
        if handle is None or not self.host(node).alive(handle):
            return False
        host = self.host(node)
        host.signal(handle, signal.SIGKILL)
        host.signal(handle, signal.SIGCONT)  # a stopped group dies on SIGKILL anyway; this is for clarity in ps
        deadline = time.monotonic() + timeout
        while host.alive(handle):
            if time.monotonic() > deadline:
                raise ClusterError(f"{node} (pid {handle.pid}) survived SIGKILL for {timeout:g}s")
            time.sleep(0.01)
        self._update_node(node, paused=False)
        return True

    def restart(self, node: str) -> ProcessHandle:
        """Kill the node if it runs, then start it again with the same argv, env and data dir."""
        rec = self._node_state(node)
        if not rec.get("argv"):
            raise ClusterError(f"{node} was never started, so it cannot be restarted")
        self.kill(node)
        return self.start(node, rec["argv"], rec.get("env") or {})

    def pause(self, node: str) -> bool:
        """SIGSTOP the node's process group. Returns whether it was running."""
        if not self.is_running(node):
            return False
        self.host(node).signal(self._handles[node], signal.SIGSTOP)
        self._update_node(node, paused=True)
        return True

    def resume(self, node: str) -> bool:
        """SIGCONT the node's process group (harmless if it was not paused). Returns whether it was running."""
        if not self.is_running(node):
            return False
        self.host(node).signal(self._handles[node], signal.SIGCONT)
        self._update_node(node, paused=False)
        return True

    def is_paused(self, node: str) -> bool:
        return bool(self._node_state(node).get("paused")) and self.is_running(node)

    # ------------------------------------------------------------------------------------------------- helpers

    def start_helper(self, node: str, name: str, argv: list[str], in_netns: bool = True) -> ProcessHandle:
        """Start a fault's helper process (e.g. the packet program of ``delay``) on ``node``'s host, without
        libfaketime, its output in ``<node dir>/helpers/<name>.*.log`` (outside the node logs the log-pattern
        checker reads). Recorded in the state file (``helpers``) so that :meth:`stop_helper`, and cleanup after a
        dead controller, kill it by pid. ClusterError if a helper of that name already runs there."""
        host = self.host(node)
        key = f"{node}/{name}"
        if self.helper_running(node, name):
            raise ClusterError(f"helper {name} already runs on {node}")
        prefix = os.path.join(self.node_dir(node), "helpers", name)
        if in_netns:
            handle = host.spawn(list(argv), workdir=self.node_dir(node), env={}, log_prefix=prefix)
        else:  # local hosts only (the caller checks): e.g. a FUSE daemon, which must mount in the root namespace
            handle = host.spawn(list(argv), workdir=self.node_dir(node), env={}, log_prefix=prefix, in_netns=False)

        def record(state: dict) -> None:
            state.setdefault("helpers", {})[key] = {"node": node, "name": name, "pid": handle.pid,
                                                    "pgid": handle.pgid, "start_time": handle.start_time,
                                                    "argv": list(argv), "log_prefix": prefix}
        self.store.update(self.run_id, record)
        return handle

    def _helper_handle(self, node: str, name: str) -> ProcessHandle | None:
        rec = (self.state().get("helpers") or {}).get(f"{node}/{name}")
        if not rec:
            return None
        return ProcessHandle(node, rec["pid"], rec["pgid"], rec.get("argv") or [], rec.get("start_time"))

    def helper_running(self, node: str, name: str) -> bool:
        handle = self._helper_handle(node, name)
        return handle is not None and self.host(node).alive(handle)

    def stop_helper(self, node: str, name: str, timeout: float = 3.0, sig: int = signal.SIGTERM) -> bool:
        """SIGTERM the helper (it may finish its work, e.g. let held packets go), SIGKILL it after ``timeout``,
        and forget it. Returns whether it ran. Idempotent."""
        handle = self._helper_handle(node, name)
        ran = handle is not None and self.host(node).alive(handle)
        if ran:
            host = self.host(node)
            host.signal(handle, sig)
            deadline = time.monotonic() + timeout
            while host.alive(handle) and time.monotonic() < deadline:
                time.sleep(0.01)
            if host.alive(handle):
                host.signal(handle, signal.SIGKILL)
                while host.alive(handle) and time.monotonic() < deadline + 5.0:
                    time.sleep(0.01)

        def forget(state: dict) -> None:
            (state.get("helpers") or {}).pop(f"{node}/{name}", None)
        if handle is not None:
            self.store.update(self.run_id, forget)
        return ran

    def helper_log(self, node: str, name: str) -> str:
        """What the helper printed on stdout (its log file; local hosts only)."""
        try:
            with open(os.path.join(self.node_dir(node), "helpers", f"{name}.stdout.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------------------------------------------- clocks

    def clock_offset(self, node: str) -> float:
        return float(self._node_state(node).get("clock_offset") or 0.0)

    def set_clock_offset(self, node: str, seconds: float) -> float:
        """Make ``node``'s wall clock run ``seconds`` ahead (negative: behind) of real time; takes effect in the
        running process at once (libfaketime re-reads the file on every call)."""
        if not self.faketime:
            # A request the cluster can't carry out (its system runs without the clock shim): the user's to change.
            raise BadInput("this cluster was started without libfaketime (the clock shim), so clocks cannot be "
                           "moved", node)
        seconds = float(seconds)
        self.host(node).write_file(self._clock_file(node), _fmt_offset(seconds) + "\n")
        self._update_node(node, clock_offset=seconds)
        return seconds

    # ------------------------------------------------------------------------------------------------- systems

    def start_system(self, system: System, variant: str = "correct", options: dict | None = None,
                     python: str | None = None) -> list[NodeAddress]:
        """Write each node's config (``splitbrain.harness.api.node_config``) and start every node of ``system``. A host that
        :class:`ShipsCode` (SSH) gets the system's package uploaded and runs it with its own ``python``; local
        hosts run this repository's code with ``sys.executable``. An explicit ``python`` overrides both."""
        options = options or {}
        if system.variants and variant not in system.variants:
            raise BadInput(f"{system.name} has no variant {variant!r} (known: {', '.join(system.variants)})",
                           "--variant")
        addrs = self.addresses(system.base_port)
        # A system that can't run under the clock shim says so (System.faketime); its restarts go without it too.
        self.faketime = self.faketime and getattr(system, "faketime", True)
        # Local hosts share this filesystem: make the shipped systems importable whatever the cwd.
        root = str(Path(__file__).resolve().parents[2])
        for a in addrs:
            host = self.host(a.name)
            if isinstance(host, ShipsCode):  # remote: its own copy of the code, its own interpreter
                if not system.package:
                    raise ClusterError(f"{system.name} names no package to install on remote hosts")
                node_python, pythonpath = python or host.python, host.upload_package(system.package)
            else:
                node_python, pythonpath = python or sys.executable, root
            cfg = node_config(a, addrs, variant, self.data_dir(a.name), system.node_config_extra(variant, options))
            cfg_path = os.path.join(self.node_dir(a.name), "node.json")
            host.write_file(cfg_path, json.dumps(cfg, indent=1))
            self.start(a.name, system.node_command(node_python, cfg_path), {"PYTHONPATH": pythonpath})

        def record(state: dict) -> None:
            state["system"] = {"name": system.name, "variant": variant, "port": system.base_port,
                               "options": options, "faketime": self.faketime}
        self.store.update(self.run_id, record)
        return addrs

    # ------------------------------------------------------------------------------------------------- teardown

    def collect_logs(self, dest: str) -> None:
        """Copy each node's directory (logs, config, data) to ``dest/<node>/``."""
        for node, host in self._hosts.items():
            try:
                host.fetch_dir(self.node_dir(node), os.path.join(dest, node))
            except FileNotFoundError:  # a node that was never started has no directory yet
                log.info("no directory for %s to collect", node)

    def down(self) -> None:
        """Kill every node and remove everything the cluster created. Idempotent."""
        if self._down:
            return
        for node in self.nodes:
            try:
                self.kill(node)
            except Exception as e:  # teardown below kills what is left, by namespace
                log.warning("killing %s failed: %s", node, e)
        self._teardown()
        self._down = True

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.leave_running:
            self.down()
