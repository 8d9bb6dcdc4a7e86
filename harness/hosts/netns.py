"""Local hosts: one Linux network namespace per node, joined by a bridge that lives in a namespace of its own.

Topology of a run ``<id>`` (every name carries the run id; nothing is shared between runs)::

    root namespace (the controller)          sb-<id>-sw (the "switch")            sb-<id>-n1 (node n1)
    sb<id>c  10.77.X.1/24  <--- veth --->    v-ctl ─┐
                                                    br0 (bridge) ── v-n1 <- veth ->  eth0 10.77.X.11/24
                                                    └──────────── v-n2 <- veth ->  (sb-<id>-n2) eth0 10.77.X.12/24

Why the bridge is not in the root namespace: with ``br_netfilter`` loaded (``net.bridge.bridge-nf-call-iptables =
1``, as on this machine) bridged IPv4 frames traverse the iptables FORWARD chain *of the namespace the bridge is in*.
A bridge in the root namespace would put node-to-node traffic through the host's own firewall (Docker, for one, sets
FORWARD to DROP), and working around that would mean touching the host's rules. A routed design (one veth per node
into the root namespace) would need ``ip_forward`` on the host and also crosses the host's FORWARD chain. With the
bridge in the project's own switch namespace, bridged traffic meets only that namespace's (empty) tables; the root
namespace sees nothing but the controller's own traffic on its one veth (ordinary local INPUT/OUTPUT, like a
loopback connection). No route out, no NAT, no sysctl or firewall change anywhere outside our namespaces.

Subnets: the controller end lives in the root namespace, so its /24 must not overlap any route there. A free
``10.77.X.0/24`` is picked under a machine-wide lock (``/run/lock/splitbrain-net.lock``) that is held until the
controller's address exists, so concurrent runs (also with different state dirs) never pick the same one.

Must not: create anything not recorded in the state file first, run iptables in the root namespace, or touch an
interface or namespace whose name it did not generate.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from splitbrain.harness.api import ExecResult, Host, ProcessHandle
from splitbrain.harness.hosts.resources import StateStore, process_is, process_start_time
from splitbrain.history.errors import BadInput, ClusterError

DEFAULT_SUPERNET = "10.77.0.0/16"
NET_LOCK = "/run/lock/splitbrain-net.lock"
CONTROLLER_HOST = 1  # .1 is the controller; node i (1-based) is .10+i
MAX_NODES = 200


# ---------------------------------------------------------------------------------------------------------- names


def netns_name(run_id: str, node: str) -> str:
    return f"sb-{run_id}-{node}"


def switch_name(run_id: str) -> str:
    return f"sb-{run_id}-sw"


def controller_link(run_id: str) -> str:
    """The one interface a run puts into the root namespace: ``sb<id>c`` (at most 11 chars, under IFNAMSIZ)."""
    return f"sb{run_id}c"


def new_run_id() -> str:
    """Six random hex digits; collisions with live runs are checked by the caller against state and namespaces."""
    return secrets.token_hex(3)


# ---------------------------------------------------------------------------------------------------------- commands


def run(argv: list[str], *, timeout: float = 10.0, check: bool = True, input: str | None = None) -> ExecResult:
    """Run a short command; ClusterError if it fails (with ``check``) or outlives ``timeout``."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"command timed out after {timeout:g}s: {' '.join(argv)}") from None
    except FileNotFoundError as e:
        raise ClusterError(f"command not found: {argv[0]} ({e})") from None
    res = ExecResult(p.returncode, p.stdout, p.stderr)
    if check and p.returncode != 0:
        raise ClusterError(f"command failed (exit {p.returncode}): {' '.join(argv)}: {p.stderr.strip()[:500]}")
    return res


def existing_netns() -> set[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["link", "show", "dev", name]
    return run(argv, check=False).returncode == 0


def netns_pids(ns: str) -> list[int]:
    res = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in res.stdout.split() if x.isdigit()] if res.returncode == 0 else []


# ---------------------------------------------------------------------------------------------------------- subnets


def _root_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace already has an address or a route in."""
    nets = []
    for line in run(["ip", "-4", "-o", "addr", "show"], check=False).stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    for line in run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("local", "broadcast", "unicast", "multicast"):
            first = line.split()[1]
        if first and first != "default":
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.ip_network(first, strict=False))
    return nets


def pick_subnet(used_by_states: list[str], requested: str | None = None,
                supernet: str = DEFAULT_SUPERNET) -> ipaddress.IPv4Network:
    """A /24 that overlaps nothing in the root namespace nor any recorded run. Call under :func:`net_lock`."""
    taken = _root_networks() + [ipaddress.ip_network(s) for s in used_by_states if s]
    if requested:
        try:
            net = ipaddress.ip_network(requested)
        except ValueError as e:
            raise BadInput(f"not an IPv4 network: {e}", "--subnet") from None
        if net.version != 4 or net.prefixlen > 24:
            raise BadInput("the subnet must be IPv4 with a prefix of /24 or shorter", "--subnet")
        clash = [t for t in taken if t.overlaps(net) and t.prefixlen > 0]
        if clash:
            raise BadInput(f"{net} overlaps {clash[0]}, already used on this machine", "--subnet")
        return net
    for net in ipaddress.ip_network(supernet).subnets(new_prefix=24):
        if not any(t.overlaps(net) for t in taken if t.prefixlen > 0):
            return net
    raise ClusterError(f"no free /24 left in {supernet}; run 'splitbrain cleanup'")


@contextlib.contextmanager
def net_lock():
    """Machine-wide lock around choosing names and subnets and creating the root-namespace interface."""
    Path(NET_LOCK).parent.mkdir(parents=True, exist_ok=True)
    with open(NET_LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------------- host


class NamespaceHost(Host):
    """A node's host: a network namespace on this machine. Files live in the shared local filesystem.

    ``spawn`` runs ``ip netns exec NS argv...`` in a new session (so pid == pgid and the whole group can be
    signalled); ``ip netns exec`` execs the command itself, so the recorded pid *is* the node process.
    """

    def __init__(self, name: str, netns: str, address: str):
        self.name = name
        self.netns = netns
        self.address = address
        self._procs: dict[int, subprocess.Popen] = {}

    def __repr__(self) -> str:
        return f"NamespaceHost({self.name!r}, {self.netns!r}, {self.address!r})"

    def exec(self, argv: list[str], *, timeout: float = 10.0, check: bool = True,
             input: str | None = None) -> ExecResult:
        return run(["ip", "netns", "exec", self.netns, *argv], timeout=timeout, check=check, input=input)

    def spawn(self, argv: list[str], *, workdir: str, env: dict[str, str], log_prefix: str,
              in_netns: bool = True) -> ProcessHandle:
        """``in_netns=False``: run in the controller's namespaces instead (a FUSE daemon must mount in the root
        mount namespace, since ``ip netns exec`` gives its child a mount namespace of its own)."""
        Path(workdir).mkdir(parents=True, exist_ok=True)
        Path(log_prefix).parent.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **env}
        with open(f"{log_prefix}.stdout.log", "ab") as out, open(f"{log_prefix}.stderr.log", "ab") as err:
            try:
                prefix = ["ip", "netns", "exec", self.netns] if in_netns else []
                p = subprocess.Popen([*prefix, *argv], cwd=workdir, env=full_env,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            except OSError as e:
                raise ClusterError(f"could not start {argv[0]} on {self.name}: {e}") from None
        self._procs[p.pid] = p
        return ProcessHandle(node=self.name, pid=p.pid, pgid=p.pid, argv=list(argv),
                             start_time=process_start_time(p.pid))

    def signal(self, handle: ProcessHandle, sig: int) -> None:
        # A pgid is only signalled if its leader is still the process we started (pid reuse guard) or, when the
        # leader is gone, if members of that group still run in our namespace.
        if process_is(handle.pid, handle.start_time):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(handle.pgid, sig)
            return
        for pid in netns_pids(self.netns):
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                if os.getpgid(pid) == handle.pgid:
                    os.kill(pid, sig)

    def alive(self, handle: ProcessHandle) -> bool:
        p = self._procs.get(handle.pid)
        if p is not None and p.poll() is not None:  # reaps our own child, so it is not left a zombie
            del self._procs[handle.pid]
            return False
        return process_is(handle.pid, handle.start_time)

    def write_file(self, path: str, content: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(content)
        os.replace(tmp, path)  # atomic: a reader (libfaketime) never sees a half-written file

    def fetch_dir(self, remote_dir: str, local_dir: str) -> None:
        if os.path.realpath(remote_dir) == os.path.realpath(local_dir):
            return
        shutil.copytree(remote_dir, local_dir, dirs_exist_ok=True)


# ---------------------------------------------------------------------------------------------------------- network


class LocalNetwork:
    """Creates (``up``) the namespaces, bridge and veths of one run, recording each in the state file first.

    Teardown is :func:`splitbrain.harness.hosts.cleanup.cleanup_run`, which works from the state file alone.
    """

    def __init__(self, store: StateStore, run_id: str, nodes: list[str], subnet: ipaddress.IPv4Network):
        if not 1 <= len(nodes) <= MAX_NODES:
            raise BadInput(f"a local cluster has 1 to {MAX_NODES} nodes, not {len(nodes)}", "--nodes")
        self.store, self.run_id, self.nodes, self.subnet = store, run_id, nodes, subnet
        hosts = list(subnet.hosts())
        self.controller_address = str(hosts[CONTROLLER_HOST - 1])
        self.addresses = {n: str(hosts[10 + i]) for i, n in enumerate(nodes)}

    def _record(self, resource: dict) -> None:
        self.store.add_resource(self.run_id, resource)

    def up(self) -> dict[str, NamespaceHost]:
        """Create everything; on any failure the caller cleans up from the state file."""
        rid, plen = self.run_id, self.subnet.prefixlen
        sw = switch_name(rid)
        ctl = controller_link(rid)
        self._record({"kind": "netns", "name": sw})
        run(["ip", "netns", "add", sw])
        run(["ip", "-n", sw, "link", "set", "lo", "up"])
        run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", sw, "link", "set", "br0", "up"])
        # Controller veth: created in the root namespace with its peer placed directly in the switch namespace.
        self._record({"kind": "link", "name": ctl})
        run(["ip", "link", "add", ctl, "type", "veth", "peer", "name", "v-ctl", "netns", sw])
        run(["ip", "-n", sw, "link", "set", "v-ctl", "master", "br0", "up"])
        run(["ip", "addr", "add", f"{self.controller_address}/{plen}", "dev", ctl])
        run(["ip", "link", "set", ctl, "up"])
        hosts = {}
        for node in self.nodes:
            ns = netns_name(rid, node)
            self._record({"kind": "netns", "name": ns})
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            # Both ends are born inside our namespaces: the node's interface never appears in the root namespace.
            run(["ip", "-n", sw, "link", "add", f"v-{node}", "type", "veth", "peer", "name", "eth0", "netns", ns])
            run(["ip", "-n", sw, "link", "set", f"v-{node}", "master", "br0", "up"])
            run(["ip", "-n", ns, "addr", "add", f"{self.addresses[node]}/{plen}", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            hosts[node] = NamespaceHost(node, ns, self.addresses[node])
        return hosts


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait (bounded) until none of ``pids`` exists; returns those still there."""
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if process_is(p, None)]
        if left:
            time.sleep(0.02)
    return left


def kill_netns_processes(ns: str, timeout: float = 5.0) -> list[int]:
    """SIGKILL every process inside namespace ``ns`` (they are ours: the namespace is); returns survivors."""
    pids = [p for p in netns_pids(ns) if p != os.getpid()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a stopped process dies of SIGKILL too, but be explicit
            os.kill(pid, signal.SIGKILL)
    return wait_gone(pids, timeout)
