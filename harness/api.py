"""The contracts between the runner and the pluggable parts: systems, their clients, and the hosts they run on.

A *system* says how to start one node (an argv and a config file) and makes clients. A *client* is bound to one
node and turns an invocation ({f, key, value}) into a completion. A *host* is where a node runs: a network namespace
on this machine or a remote machine over SSH; the nemesis faults hosts only through this interface, so every fault
works in both modes.

Optional capabilities are separate small protocols (as Jepsen's ``db/Kill`` and ``db/Pause``): the runner schedules a
fault only for systems that support it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


# ---------------------------------------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """Where a node listens: its name (``n1``), the address clients and peers use, and its TCP port."""

    name: str
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What a client knows of the cluster: ``node``, the node it is bound to, and ``nodes``, every node's address
    (itself included, in node order), as the controller reaches them: namespace addresses locally, the hosts'
    addresses over SSH. A client that must send writes to a primary, or follow a leader, picks from ``nodes``."""

    node: NodeAddress
    nodes: tuple[NodeAddress, ...]

    def address(self, name: str) -> NodeAddress:
        """The address of node ``name``; KeyError if there is no such node."""
        for a in self.nodes:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def others(self) -> tuple[NodeAddress, ...]:
        return tuple(a for a in self.nodes if a.name != self.node.name)


def node_config(node: NodeAddress, nodes: list[NodeAddress], variant: str, data_dir: str,
                extra: dict | None = None) -> dict:
    """The JSON config every shipped node process reads (``--config FILE``). Servers import nothing from the
    harness, so this dict *is* the interface: ``node`` (own name), ``listen`` (host, port), ``nodes`` (name ->
    [host, port] for all nodes, self included), ``variant``, ``data_dir``, plus system-specific ``extra`` keys."""
    cfg = {
        "node": node.name,
        "listen": [node.host, node.port],
        "nodes": {n.name: [n.host, n.port] for n in nodes},
        "variant": variant,
        "data_dir": data_dir,
    }
    cfg.update(extra or {})
    return cfg


# ---------------------------------------------------------------------------------------------------------- ops


@dataclass(frozen=True, slots=True)
class Invocation:
    """What a generator asks a client to do: ``f`` with an optional ``key`` and ``value``."""

    f: str
    value: Any = None
    key: Any = None


@dataclass(frozen=True, slots=True)
class Completion:
    """What a client reports back: ``type`` is ``ok``, ``fail`` (definitely did not happen) or ``info``
    (unknown); ``value`` is the result (for reads) and ``error`` a short machine-readable reason. ``node`` is the
    name of the node that answered, where it is not the node the client is bound to (a client that routes writes to
    a primary says which one served them); it goes into the history as ``answered_by``."""

    type: str
    value: Any = None
    error: str | None = None
    node: str | None = None


class Client(abc.ABC):
    """A connection from one client worker to one node. Used by one asyncio task at a time.

    ``invoke`` must return within ``timeout`` seconds (the runner also enforces it) and must not raise for errors
    of the system under test: it turns them into a Completion through the error table (splitbrain.harness.client_errors).

    ``cluster`` is set by the runner before ``open`` is called: the bound node and every node's address
    (:class:`ClusterView`); None when a client is used outside a run.
    """

    cluster: ClusterView | None = None

    @abc.abstractmethod
    async def open(self, node: NodeAddress) -> None: ...

    @abc.abstractmethod
    async def invoke(self, op: Invocation, timeout: float) -> Completion: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class System(abc.ABC):
    """A system under test: how to run a node and how to talk to it.

    Subclasses set ``name``, ``description``, ``variants`` (variant -> the bug it seeds, "" for a correct one),
    ``workloads`` (names of workloads whose ops the client understands) and ``base_port``.
    """

    name: str = ""
    description: str = ""
    variants: dict[str, str] = {}
    workloads: tuple[str, ...] = ()
    base_port: int = 7000
    #: Python package that holds the server; uploaded as a directory to remote hosts.
    package: str = ""
    #: Whether nodes run under libfaketime (the clock shim that lets the ``clock`` fault move their clocks). A
    #: server that hangs or crashes under it sets False; a run then refuses clock faults before it starts.
    faketime: bool = True
    #: Seconds every node has to accept TCP connections on ``base_port`` after it is started.
    start_timeout: float = 20.0
    #: Seconds the optional ``ready()`` capability has to say the cluster is ready, once every node listens.
    ready_timeout: float = 30.0
    #: Regular expressions no healthy node's log matches (a match makes the run invalid); None: the log-pattern
    #: checker's defaults (``splitbrain.checkers.logs.DEFAULT_PATTERNS``: tracebacks, ``panic:``, ``FATAL``, assertions).
    log_patterns: tuple[str, ...] | None = None
    #: Glob patterns (relative to a node's data dir) of the files the ``corrupt`` fault may damage: the system's
    #: log and snapshot files. Empty: the fault refuses this system.
    data_files: tuple[str, ...] = ()

    @abc.abstractmethod
    def node_command(self, python: str, config_path: str) -> list[str]:
        """The argv that starts one node, given the Python interpreter to use and the config file path."""

    def node_config_extra(self, variant: str, options: dict) -> dict:
        """System-specific keys added to every node's config (e.g. quorum sizes)."""
        return {}

    def workload_options(self, workload: str) -> dict:
        """Defaults this system needs for a workload (e.g. ``{"cas": False}`` where cas can't be atomic); the
        user's ``--option`` flags override them."""
        return {}

    @abc.abstractmethod
    def client(self, variant: str, options: dict) -> Client:
        """A new, unopened client."""


@runtime_checkable
class KnowsLeader(Protocol):
    """Optional: a system that can say which node leads (for leader-targeted faults and report annotations)."""

    async def leader(self, nodes: list[NodeAddress], timeout: float) -> tuple[str | None, int | None]:
        """(leader node name or None, term or None), as the nodes report it."""


@runtime_checkable
class KnowsPrimaries(Protocol):
    """Optional: a primary/replica system that can say which nodes are primaries now (for ``--nemesis-targets
    primaries``: a fault aimed at the primaries hits the nodes this returns when it is applied)."""

    async def primaries(self, nodes: list[NodeAddress], timeout: float) -> list[str]:
        """Names of the nodes that act as primary, as the nodes report it (empty if none answered)."""


@runtime_checkable
class Ready(Protocol):
    """Optional: a system that can say when it is ready for load (replicas synced, a leader elected). After every
    node accepts TCP connections, the runner calls ``ready`` again and again (a fresh call every 0.2 s or so) until
    it returns True, for at most ``System.ready_timeout`` seconds; then the run fails (exit 255, naming the last
    answer). The time it took is recorded (``annotations.jsonl``, kind ``ready``)."""

    async def ready(self, nodes: list[NodeAddress], timeout: float) -> bool | str:
        """True when ready; False or a short reason (str) when not yet. Exceptions count as "not yet"."""


@runtime_checkable
class ReportsRoles(Protocol):
    """Optional: a system whose nodes each say what role they believe they have (``leader``/``follower``/...) and
    in which term. The runner records every leader claim, and the election checker finds two leaders in one term
    (Raft's Election Safety)."""

    async def roles(self, nodes: list[NodeAddress], timeout: float) -> dict[str, dict]:
        """node name -> {"role": str, "term": int} for the nodes that answered in time."""


@runtime_checkable
class ReportsState(Protocol):
    """Optional: a system whose nodes report internal state for checkers (e.g. CRDT delivery order)."""

    async def node_state(self, node: NodeAddress, timeout: float) -> dict: ...


# ---------------------------------------------------------------------------------------------------------- hosts


@dataclass(frozen=True, slots=True)
class ExecResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class ProcessHandle:
    """A started node process: enough to signal its whole process group later, also from another controller."""

    node: str
    pid: int
    pgid: int
    argv: list[str] = field(default_factory=list)
    #: The kernel's start time of ``pid`` (clock ticks since boot) where the host can tell, so that a pid reused by
    #: an unrelated process is never signalled; None if unknown.
    start_time: int | None = None


class Host(abc.ABC):
    """One machine a node runs on. The nemesis reaches hosts only through these methods.

    ``exec`` runs a short command (iptables, cat, ...) *on the host, in its network context* and returns its
    result; it must not hang past ``timeout`` (raise ClusterError / UnreachableNode instead). ``spawn`` starts a
    long-running node process in its own process group with stdout/stderr to log files in ``workdir``.
    """

    name: str
    address: str

    @abc.abstractmethod
    def exec(self, argv: list[str], *, timeout: float = 10.0, check: bool = True,
             input: str | None = None) -> ExecResult: ...

    @abc.abstractmethod
    def spawn(self, argv: list[str], *, workdir: str, env: dict[str, str], log_prefix: str) -> ProcessHandle:
        """Start ``argv`` with cwd ``workdir`` (created if missing), the host's environment updated by ``env``,
        stdin from /dev/null, stdout appended to ``log_prefix + ".stdout.log"`` and stderr to
        ``log_prefix + ".stderr.log"`` (appended, so a restart keeps the earlier logs), in a new session whose
        process group id is the returned ``pgid``. Returns at once; must not wait for the process."""

    @abc.abstractmethod
    def signal(self, handle: ProcessHandle, sig: int) -> None:
        """Send ``sig`` to the handle's whole process group; no error if it is already gone."""

    @abc.abstractmethod
    def alive(self, handle: ProcessHandle) -> bool:
        """True while the handle's process exists and is not a zombie (a stopped process is alive)."""

    @abc.abstractmethod
    def write_file(self, path: str, content: str) -> None:
        """Replace ``path`` atomically (readers such as libfaketime never see a partial file); creates parents."""

    @abc.abstractmethod
    def fetch_dir(self, remote_dir: str, local_dir: str) -> None:
        """Copy a directory (node logs) from the host to this machine."""
