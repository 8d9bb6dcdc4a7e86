"""Fault packages: for each kind of fault, pure plan functions plus the applier that carries a plan out.

A package has
  * ``start_op(rng, nodes, leader=None) -> Invocation`` and ``stop_op(rng, nodes, leader=None, started=None)``:
    PURE; the generator calls them. ``f`` is ``start-<name>`` / ``stop-<name>``; ``value`` is the plan as JSON
    data (no host is touched, randomness only from ``rng``). ``started`` is the start invocation being undone, so a
    stop can target exactly the nodes the start hit (without it, a stop undoes the fault on every node).
  * ``apply(cluster, invocation) -> JSON value`` describing what was actually done (the runner records it as the
    completion of the "nemesis" op; this module writes no history);
  * ``heal(cluster) -> JSON value``: undo every fault of this kind, whatever happened before (final phase).

Packages are frozen dataclasses; their fields are options (``dataclasses.replace(PACKAGES["kill"],
targets=("leader",))``). ``PACKAGES`` holds the defaults.

Must not: raise for a plan that targets a node that is already down/healed (report it instead); accept a malformed
plan (BadInput naming the op).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from splitbrain.harness.api import Invocation
from splitbrain.harness.errors import BadInput
from splitbrain.nemesis import appliers, disk_appliers, link_appliers
from splitbrain.nemesis.grudge import SHAPES, complete_grudge, majority, normalize
from splitbrain.nemesis.targets import DYNAMIC, TARGETS, cut_off, select_nodes

if TYPE_CHECKING:
    from splitbrain.harness.cluster import Cluster

#: The targets a process fault draws from by default (``--nemesis-targets`` or ``<fault>_targets`` narrow them).
PROCESS_TARGETS = ("one", "minority", "majority", "all", "leader")
#: Targets that need no knowledge of the system's roles.
STATIC_TARGETS = ("one", "minority", "majority", "all")


def _plan(inv: Invocation, kind: type, what: str) -> Any:
    if not isinstance(inv.value, kind):
        raise BadInput(f"{inv.f} needs {what} as its value, not {inv.value!r}", "nemesis plan")
    return inv.value


def _nodes_of(inv: Invocation, cluster: "Cluster") -> list[str]:
    """The nodes a stop op names (``value["nodes"]``), or every node when it names none."""
    value = inv.value if isinstance(inv.value, dict) else {}
    nodes = value.get("nodes")
    if nodes is None:
        return cluster.nodes
    for n in nodes:
        cluster.host(n)  # BadInput for an unknown node
    return list(nodes)


@dataclass(frozen=True)
class FaultPackage:
    name: str = ""
    #: The targets (splitbrain.nemesis.targets.TARGETS) this fault can be aimed at with ``--nemesis-targets``; empty for a
    #: fault that picks its nodes itself.
    accepts = ()

    @property
    def description(self) -> str:
        """The first sentence of the package's docstring, in plain text."""
        text = " ".join((type(self).__doc__ or "").strip().split()).replace("``", "")
        return text.split(". ")[0].rstrip(".") + "."

    @property
    def default_targets(self) -> tuple[str, ...]:
        return tuple(getattr(self, "targets", ()) or ())

    def check_nodes(self, count: int) -> None:
        """BadInput if this fault cannot work on a cluster of ``count`` nodes (checked before a run starts)."""

    def prepare(self, cluster: "Cluster") -> Any:
        """Set the cluster up for this fault before any node starts (e.g. data dirs on a file system of the
        fault's own); the runner calls it once. Nothing by default."""
        return None

    @property
    def fs(self) -> tuple[str, str]:
        return (f"start-{self.name}", f"stop-{self.name}")

    def stop_op(self, rng: random.Random | None = None, nodes: Sequence[str] = (), leader: str | None = None,
                started: Invocation | None = None) -> Invocation:
        targets = None
        # A leader-targeted start may be re-aimed by the runner at whoever leads when it is applied, so its stop
        # must not trust the nodes in the plan: it undoes the fault everywhere.
        if (started is not None and isinstance(started.value, dict) and started.value.get("nodes") is not None
                and started.value.get("target") not in DYNAMIC):
            targets = list(started.value["nodes"])
        return Invocation(f"stop-{self.name}", {"nodes": targets})


@dataclass(frozen=True)
class PartitionPackage(FaultPackage):
    """Network partitions by grudge shape (``splitbrain.nemesis.grudge.SHAPES``); the leader, when known, is the one
    ``isolate`` cuts off."""

    name: str = "partition"
    shapes: tuple[str, ...] = ("halves", "random-halves", "isolate", "majorities-ring", "bridge", "one-way")
    #: When set (``--nemesis-targets``), every partition cuts the targeted nodes off from the rest (shape
    #: ``cut-off``; ``all``: every node alone) instead of drawing a shape.
    targets: tuple[str, ...] = ()
    accepts = TARGETS

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        if self.targets:
            target = rng.choice(self.targets)
            chosen = select_nodes(rng, nodes, target, leader)
            return Invocation("start-partition", {"shape": "cut-off", "target": target, "nodes": chosen,
                                                  "grudge": cut_off(nodes, chosen)})
        shape = rng.choice(self.shapes)
        grudge = SHAPES[shape](sorted(nodes), rng, leader)
        return Invocation("start-partition", {"shape": shape, "grudge": grudge})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation("stop-partition", None)

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f == "start-partition":
            plan = _plan(inv, dict, "an object with a grudge")
            try:
                extra = {k: plan[k] for k in ("target", "nodes") if k in plan}
                return {"shape": plan.get("shape"), **extra,
                        **appliers.apply_partition(cluster, plan.get("grudge", {}))}
            except ValueError as e:
                raise BadInput(str(e), "nemesis plan") from None
        return appliers.heal_partition(cluster)

    def heal(self, cluster: "Cluster") -> Any:
        return appliers.heal_partition(cluster)


@dataclass(frozen=True)
class KillPackage(FaultPackage):
    """SIGKILL then restart (same argv, same data dir)."""

    name: str = "kill"
    targets: tuple[str, ...] = PROCESS_TARGETS
    accepts = TARGETS

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        target = rng.choice(self.targets)
        return Invocation(f"start-{self.name}", {"target": target,
                                                  "nodes": select_nodes(rng, nodes, target, leader)})

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f == f"start-{self.name}":
            plan = _plan(inv, dict, "an object with nodes")
            nodes = _nodes_of(inv, cluster) if plan.get("nodes") is not None else []
            return self._start(cluster, nodes)
        return self._stop(cluster, _nodes_of(inv, cluster))

    def _start(self, cluster: "Cluster", nodes: list[str]) -> dict:
        done = [n for n in nodes if cluster.kill(n)]
        return {"killed": done, "already-down": [n for n in nodes if n not in done]}

    def _stop(self, cluster: "Cluster", nodes: list[str]) -> dict:
        started = []
        recorded = cluster.state().get("nodes") or {}
        for n in nodes:
            if not cluster.is_running(n) and (recorded.get(n) or {}).get("argv"):
                cluster.restart(n)
                started.append(n)
        return {"restarted": started}

    def heal(self, cluster: "Cluster") -> Any:
        return self._stop(cluster, cluster.nodes)


@dataclass(frozen=True)
class PausePackage(KillPackage):
    """SIGSTOP then SIGCONT of the node's whole process group."""

    name: str = "pause"

    def _start(self, cluster: "Cluster", nodes: list[str]) -> dict:
        done = [n for n in nodes if cluster.pause(n)]
        return {"paused": done, "not-running": [n for n in nodes if n not in done]}

    def _stop(self, cluster: "Cluster", nodes: list[str]) -> dict:
        return {"resumed": [n for n in nodes if cluster.resume(n)]}


@dataclass(frozen=True)
class ClockPackage(FaultPackage):
    """Clock offsets through libfaketime: ``offset`` (set), ``bump`` (add), ``strobe`` (flip back and forth for a
    while; apply blocks for ``strobe_duration``); stop resets every clock to real time."""

    name: str = "clock"
    modes: tuple[str, ...] = ("offset", "bump", "strobe")
    targets: tuple[str, ...] = STATIC_TARGETS
    accepts = STATIC_TARGETS
    max_offset: float = 60.0
    strobe_period: float = 0.2
    strobe_duration: float = 2.0

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        mode = rng.choice(self.modes)
        target = rng.choice(self.targets)
        targets = select_nodes(rng, nodes, target, leader)
        amount = {n: round(rng.uniform(-self.max_offset, self.max_offset), 3) for n in targets}
        if mode == "strobe":
            value = {"mode": "strobe", "nodes": targets, "delta": round(rng.uniform(1, self.max_offset), 3),
                     "period": self.strobe_period, "duration": self.strobe_duration}
        else:
            value = {"mode": mode, "nodes": targets, "seconds": amount}
        return Invocation("start-clock", value)

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation("stop-clock", {"mode": "reset", "nodes": None})

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        plan = _plan(inv, dict, "an object with a mode") if inv.f == "start-clock" else {"mode": "reset"}
        mode = plan.get("mode")
        nodes = _nodes_of(inv, cluster)
        try:
            if mode == "offset":
                return {"mode": mode, "offsets": {n: cluster.set_clock_offset(n, float(plan["seconds"][n]))
                                                  for n in sorted(plan["seconds"])}}
            if mode == "bump":
                return {"mode": mode, "offsets": {
                    n: cluster.set_clock_offset(n, cluster.clock_offset(n) + float(plan["seconds"][n]))
                    for n in sorted(plan["seconds"])}}
            if mode == "strobe":
                duration = min(float(plan.get("duration", self.strobe_duration)), 60.0)
                return {"mode": mode, **appliers.strobe(cluster, nodes, float(plan["delta"]),
                                                        max(0.01, float(plan.get("period", 0.2))), duration)}
            if mode == "reset":
                return {"mode": mode, "offsets": {n: cluster.set_clock_offset(n, 0.0) for n in nodes}}
        except (KeyError, TypeError, ValueError) as e:
            raise BadInput(f"malformed clock plan {plan!r} ({e})", "nemesis plan") from None
        raise BadInput(f"unknown clock mode {mode!r}", "nemesis plan")

    def heal(self, cluster: "Cluster") -> Any:
        return self.apply(cluster, Invocation("stop-clock", {"mode": "reset", "nodes": None}))


@dataclass(frozen=True)
class LossPackage(FaultPackage):
    """Random packet loss on incoming packets of some nodes (iptables ``statistic``; tc netem is unavailable)."""

    name: str = "loss"
    probabilities: tuple[float, ...] = (0.1, 0.3, 0.5)
    targets: tuple[str, ...] = STATIC_TARGETS
    accepts = STATIC_TARGETS

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        return Invocation("start-loss", {"nodes": select_nodes(rng, nodes, rng.choice(self.targets), leader),
                                         "probability": rng.choice(self.probabilities)})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation("stop-loss", None)

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f == "start-loss":
            plan = _plan(inv, dict, "an object with nodes and probability")
            try:
                return appliers.apply_loss(cluster, _nodes_of(inv, cluster), float(plan["probability"]))
            except (KeyError, TypeError, ValueError) as e:
                raise BadInput(f"malformed loss plan {plan!r} ({e})", "nemesis plan") from None
        return appliers.heal_loss(cluster)

    def heal(self, cluster: "Cluster") -> Any:
        return appliers.heal_loss(cluster)


@dataclass(frozen=True)
class CrashPackage(KillPackage):
    """A node hangs, then dies: SIGSTOP every target at once, hold them stopped for ``hold`` seconds (drawn by
    the plan from ``holds``; apply blocks that long), then SIGKILL them; stop restarts them.

    Why not ``kill``: a plain kill of several nodes happens one node after the other, and a live process drains
    its sockets up to the moment it dies, so a message in flight to two victims still lands on the second. A hung
    process reads nothing; what its peers send it while it hangs sits in its kernel buffers and is lost with it.
    So a write that peers handed to a hung majority ends up on fewer replicas than the sender believes it sent to
    (the sender's own copy survives): a write left partial, as when a machine freezes (GC, swap, a stuck disk)
    and is then shot by a watchdog. Must not: leave a target stopped (a target that is not running is reported,
    and every target that was stopped is killed, even if the hold is interrupted)."""

    name: str = "crash"
    targets: tuple[str, ...] = ("majority", "minority", "one")
    holds: tuple[float, ...] = (0.25, 0.5, 1.0)

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        target = rng.choice(self.targets)
        return Invocation(f"start-{self.name}", {"target": target, "hold": rng.choice(self.holds),
                                                  "nodes": select_nodes(rng, nodes, target, leader)})

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f == f"start-{self.name}":
            plan = _plan(inv, dict, "an object with nodes and hold")
            try:
                hold = min(max(float(plan.get("hold", 0.5)), 0.0), 10.0)
            except (TypeError, ValueError):
                raise BadInput(f"malformed crash plan {plan!r} (hold must be seconds)", "nemesis plan") from None
            nodes = _nodes_of(inv, cluster) if plan.get("nodes") is not None else []
            frozen = [n for n in nodes if cluster.pause(n)]
            try:
                time.sleep(hold)  # the controller's thread, not a node: nodes must never time.sleep
            finally:
                killed = [n for n in frozen if cluster.kill(n)]
            return {"hold": hold, "hung": frozen, "killed": killed,
                    "not-running": [n for n in nodes if n not in frozen]}
        return self._stop(cluster, _nodes_of(inv, cluster))


@dataclass(frozen=True)
class ChasePackage(FaultPackage):
    """Chase the leader: both the start and the stop op isolate whoever leads when the op is applied (shape
    ``isolate-leader``; the runner re-aims it at the current leader, waiting out an election in progress), and a
    new isolation replaces the previous one with no healed gap in between. Only the final heal reconnects all.

    With a short nemesis interval this cuts off each newly elected leader soon after it is known, and lets the
    one cut off before rejoin: the successive leaders with entries no one else has that Raft's Figure 8 is about
    (a leader that commits an earlier term's entry by counting replicas can then lose it). Without a known
    leader the plan's own random node is isolated."""

    name: str = "chase"

    def _op(self, f: str, rng: random.Random, nodes: Sequence[str]) -> Invocation:
        rng = rng or random.Random(0)
        return Invocation(f, {"shape": "isolate-leader", "grudge": SHAPES["isolate-leader"](sorted(nodes), rng, None)})

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        return self._op(f"start-{self.name}", rng, nodes)

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return self._op(f"stop-{self.name}", rng, nodes)

    def heal_op(self, rng=None, nodes=()) -> Invocation:
        """What a final heal phase sends instead of the stop op (which would isolate again)."""
        return Invocation(f"stop-{self.name}", None)

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.value is None:
            return appliers.heal_partition(cluster)
        plan = _plan(inv, dict, "an object with a grudge")
        try:
            return {"shape": plan.get("shape"), **appliers.apply_partition(cluster, plan.get("grudge", {}))}
        except ValueError as e:
            raise BadInput(str(e), "nemesis plan") from None

    def heal(self, cluster: "Cluster") -> Any:
        return appliers.heal_partition(cluster)


@dataclass(frozen=True)
class FlapPackage(KillPackage):
    """A flapping bridge node on lossy links: the target (the leader by default, re-aimed by the runner at whoever
    leads when the op is applied) becomes the one node that talks to both halves of the others (a ``bridge``
    partition around it), the other nodes' incoming packets are dropped with probability ``loss`` (iptables
    ``statistic``), and the target is killed and restarted ``len(flaps)`` times, each time down then up for the
    plan's seconds (apply blocks that long, at most ``MAX_SECONDS``). Stop heals the partition and the loss and
    restarts whatever is down.

    Why (Raft's vote durability): after the bridge leader dies its peers are equally up to date and cut off from
    each other, and each needs only the bridge's vote to win. A lost vote reply is retransmitted by TCP only after
    its timeout (>= 200 ms, even after the sender died), so the new leader's first append reaches the bridge late
    and a kill soon after the vote often lands before the bridge holds anything of the new term; a node that
    forgets its vote on restart can then elect a second leader of that term (itself or the other peer). Measured
    on raft-kv volatile-vote (election_timeout [0.15, 0.3]): node logs show two leaders of one term in 2 of 7
    runs of 30 s; the runner's leader-claim poll saw neither second leader (each lasted < 1 s).
    Must not: leave the target down or a fault in place after stop/heal, or block longer than ``MAX_SECONDS``."""

    name: str = "flap"
    targets: tuple[str, ...] = ("leader",)
    accepts = ("one", "leader", "primaries")  # one middle node
    flaps: int = 8
    down: tuple[float, float] = (0.05, 0.2)
    up: tuple[float, float] = (0.4, 1.6)
    losses: tuple[float, ...] = (0.2, 0.4)
    MAX_SECONDS = 15.0

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        target = rng.choice(self.targets)
        flaps = [[round(rng.uniform(*self.down), 3), round(rng.uniform(*self.up), 3)] for _ in range(self.flaps)]
        middle = select_nodes(rng, nodes, target, leader)[:1]
        return Invocation(f"start-{self.name}", {"target": target, "nodes": middle,
                                                  "loss": rng.choice(self.losses), "flaps": flaps})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        # The stop restarts every down node: the runner may have re-aimed the start at another node.
        return Invocation(f"stop-{self.name}", {"nodes": None})

    @staticmethod
    def bridge_around(nodes: Sequence[str], middle: str) -> dict:
        """The grudge that cuts the other nodes into two halves (alternating in sorted order) that only
        ``middle`` joins."""
        others = sorted(n for n in nodes if n != middle)
        halves = [others[0::2], others[1::2]]
        return complete_grudge(halves) if halves[1] else {}

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f != f"start-{self.name}":
            return {"partition": appliers.heal_partition(cluster), "loss": appliers.heal_loss(cluster),
                    **self._stop(cluster, cluster.nodes)}
        plan = _plan(inv, dict, "an object with nodes, loss and flaps")
        try:
            middle = _nodes_of(inv, cluster)[0]
            loss = float(plan["loss"])
            flaps = [(max(float(d), 0.0), max(float(u), 0.0)) for d, u in plan["flaps"]]
        except (IndexError, KeyError, TypeError, ValueError) as e:
            raise BadInput(f"malformed flap plan {plan!r} ({e})", "nemesis plan") from None
        if sum(d + u for d, u in flaps) > self.MAX_SECONDS:
            raise BadInput(f"flap plan {plan!r} runs longer than {self.MAX_SECONDS} s", "nemesis plan")
        grudge = self.bridge_around(cluster.nodes, middle)
        out = {"middle": middle, "grudge": grudge, **appliers.apply_partition(cluster, grudge),
               "loss": appliers.apply_loss(cluster, [n for n in cluster.nodes if n != middle], loss),
               "killed": 0, "restarted": 0}
        for d, u in flaps:
            out["killed"] += bool(cluster.kill(middle))
            try:
                time.sleep(d)  # the controller's thread, not a node: nodes must never time.sleep
            finally:
                out["restarted"] += bool(self._stop(cluster, [middle])["restarted"])
            time.sleep(u)
        return out

    def heal(self, cluster: "Cluster") -> Any:
        return {"partition": appliers.heal_partition(cluster), "loss": appliers.heal_loss(cluster),
                **self._stop(cluster, cluster.nodes)}


@dataclass(frozen=True)
class QueueFaultPackage(FaultPackage):
    """Slow links, applied and healed like partitions: a grudge shape (``shapes``) picks the links (``{receiver:
    [senders]}``), and the packet program (:mod:`splitbrain.nemesis.netqueue`) holds, duplicates or reorders what the senders
    send on them. ``delay`` holds every packet ``delay_ms`` (one of ``amounts``) +- ``jitter`` of it; ``duplicate``
    sends each packet twice with a probability from ``amounts``; ``reorder`` holds that share of packets a further
    ``reorder_ms`` so that later ones overtake them. One fault of the three at a time: a new start replaces the
    last one. On namespaces and SSH hosts alike (``splitbrain.nemesis.link_appliers``)."""

    name: str = "delay"
    shapes: tuple[str, ...] = ("all", "halves", "isolate", "one-way")
    amounts: tuple[float, ...] = (10.0, 50.0, 100.0, 200.0)
    jitter: float = 0.1
    reorder_ms: float = 20.0

    def params(self, amount: float) -> dict:
        """Pure: the packet program's parameters for one drawn ``amount``."""
        if self.name == "delay":
            return {"delay_ms": amount, "jitter_ms": round(amount * self.jitter, 3)}
        if self.name == "duplicate":
            return {"duplicate": amount}
        return {"reorder": amount, "reorder_ms": self.reorder_ms}

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        shape = rng.choice(self.shapes)
        grudge = SHAPES[shape](sorted(nodes), rng, leader)
        return Invocation(f"start-{self.name}", {"shape": shape, "grudge": grudge,
                                                  **self.params(rng.choice(self.amounts)),
                                                  "seed": rng.randrange(1 << 30)})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation(f"stop-{self.name}", None)

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f != f"start-{self.name}":
            return link_appliers.heal_queue_fault(cluster)
        plan = _plan(inv, dict, "an object with a grudge")
        try:
            return {"shape": plan.get("shape"),
                    **link_appliers.apply_queue_fault(cluster, plan.get("grudge", {}), plan, int(plan.get("seed", 0)))}
        except (TypeError, ValueError) as e:
            raise BadInput(f"malformed {self.name} plan {plan!r} ({e})", "nemesis plan") from None

    def heal(self, cluster: "Cluster") -> Any:
        return link_appliers.heal_queue_fault(cluster)


@dataclass(frozen=True)
class RatePackage(FaultPackage):
    """A bandwidth cap on some links (grudge shapes as for partitions): each sender's packets to each receiver
    of the plan share ``kbit`` kilobits per second (an htb class; tc netem is unavailable). On namespaces and SSH
    hosts alike."""

    name: str = "rate"
    shapes: tuple[str, ...] = ("all", "halves", "isolate", "one-way")
    amounts: tuple[int, ...] = (64, 256, 1024)

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        shape = rng.choice(self.shapes)
        return Invocation("start-rate", {"shape": shape, "grudge": SHAPES[shape](sorted(nodes), rng, leader),
                                         "kbit": rng.choice(self.amounts)})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation("stop-rate", None)

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f != "start-rate":
            return link_appliers.heal_rate(cluster)
        plan = _plan(inv, dict, "an object with a grudge and kbit")
        try:
            return {"shape": plan.get("shape"),
                    **link_appliers.apply_rate(cluster, plan.get("grudge", {}), int(plan["kbit"]))}
        except (KeyError, TypeError, ValueError) as e:
            raise BadInput(f"malformed rate plan {plan!r} ({e})", "nemesis plan") from None

    def heal(self, cluster: "Cluster") -> Any:
        return link_appliers.heal_rate(cluster)


@dataclass(frozen=True)
class LoseUnfsyncedPackage(KillPackage):
    """Power loss: the targets are killed together, every write they had not fsynced is dropped (and every new
    file whose directory entry was not yet durable), and they start again on what was durable. Their data dirs are
    on the project's lazy file system (:mod:`splitbrain.nemesis.lazyfs`), mounted by ``prepare`` before the nodes start.
    The start op does the whole fault (down, drop, up); the stop op restarts whatever is still down. On SSH
    hosts with FUSE too (:mod:`splitbrain.nemesis.remote_disk`)."""

    name: str = "lose-unfsynced"
    targets: tuple[str, ...] = ("majority", "all")

    def prepare(self, cluster: "Cluster") -> Any:
        return [disk_appliers.mount(cluster, n) for n in cluster.nodes]

    def _start(self, cluster: "Cluster", nodes: list[str]) -> dict:
        for n in nodes:
            if not disk_appliers.mounted(cluster, n):
                raise BadInput(f"{n}'s data dir is not on the lazy file system (it is mounted when a run with "
                               "this fault starts, or by cluster up --lazyfs)", "nemesis plan")
        killed = [n for n in nodes if cluster.kill(n)]  # all at once, as one power cut
        lost = [disk_appliers.unmount(cluster, n, power_loss=True) for n in nodes]
        for n in nodes:
            disk_appliers.mount(cluster, n)
        return {"killed": killed, "lost": lost, **self._stop(cluster, nodes)}


@dataclass(frozen=True)
class CorruptPackage(KillPackage):
    """A damaged disk: while the target is down, flip bits in (``bitflip``), flip a digit inside a stored value so
    the record still parses (``value``) or cut the tail off (``truncate``) one file of its data dir, then start it
    again. The default draws ``bitflip`` and ``truncate``; ``corrupt_modes`` chooses (``value`` is not a default:
    in a file with its own checksums, such as SQLite's WAL, a flip anywhere cuts the log there, and on several
    nodes in turn that takes committed entries a Raft majority held)."""

    name: str = "corrupt"
    targets: tuple[str, ...] = ("one",)
    modes: tuple[str, ...] = ("bitflip", "truncate")
    flips: int = 1
    patterns: tuple[str, ...] = ()

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        target = rng.choice(self.targets)
        return Invocation("start-corrupt", {"target": target, "nodes": select_nodes(rng, nodes, target, leader),
                                            "mode": rng.choice(self.modes), "flips": self.flips,
                                            "pick": round(rng.random(), 6), "seed": rng.randrange(1 << 30)})

    def _patterns(self, cluster: "Cluster", plan: dict) -> list[str]:
        if plan.get("files"):
            return [str(p) for p in plan["files"]]
        # The controller fills ``patterns`` from the system's ``data_files`` (the runner, and the CLI's files).
        return list(self.patterns)

    def apply(self, cluster: "Cluster", inv: Invocation) -> Any:
        if inv.f != "start-corrupt":
            return self._stop(cluster, _nodes_of(inv, cluster))
        from splitbrain.nemesis import corruption
        plan = _plan(inv, dict, "an object with nodes and mode")
        patterns = self._patterns(cluster, plan)
        if not patterns:
            raise BadInput("corrupt needs to know which files to damage: the system declares none (data_files); "
                           "give files in the plan", "nemesis plan")
        try:
            mode, pick = str(plan.get("mode", "bitflip")), float(plan.get("pick", 0.0))
            rng = random.Random(int(plan.get("seed", 0)))
            flips = int(plan.get("flips", self.flips))
            if mode not in corruption.MODES:
                raise ValueError(f"unknown mode {mode!r}")
        except (TypeError, ValueError) as e:
            raise BadInput(f"malformed corrupt plan {plan!r} ({e})", "nemesis plan") from None
        nodes = _nodes_of(inv, cluster) if plan.get("nodes") is not None else []
        done = []
        for n in nodes:
            killed = cluster.kill(n)
            done.append({"node": n, "killed": killed,
                         **disk_appliers.corrupt(cluster, n, patterns, pick, mode, rng, flips)})
        return {"corrupted": done, **self._stop(cluster, nodes)}


def _check_odd_cluster(count: int) -> None:
    if count < 3 or count % 2 == 0:
        raise BadInput(f"voter-restart needs an odd number of nodes, at least 3 (got {count})", "--nodes")


@dataclass(frozen=True)
class VoterRestartPackage(FaultPackage):
    """A vote given, then forgotten: an election is frozen half-way, its voter restarted, and the rest of the
    cluster elects again in the same term. Made of pause, partition, kill and restart, steered by what the nodes say
    about their own role and term (a system with ``ReportsRoles``: ``apply`` then gets ``roles``).

    For ``2m-1`` nodes (``m`` a majority): ``B`` is the leader when applied; of the others, the plan's ``pick``
    chooses the voter ``V``, the candidate ``A``, and ``m-2`` helpers for each of ``A`` and ``B``:

    1. pause ``B`` and its helpers (the leader stops sending, so the followers' logs settle alike), then ``V`` and
       ``A``'s helpers; cut ``A`` from ``B``'s side and ``B`` from ``A``'s (both ways);
    2. wait (``candidate_wait``) until ``A``, alone running, says it is a candidate of a later term ``Ta``: its vote
       requests wait in the paused nodes' sockets. Then nobody hears ``A`` any more (one way: ``A`` still gets
       replies, the others drop its packets, so it can win but reach no one as leader);
    3. resume ``V`` and ``A``'s helpers; wait (``vote_wait``) until ``A`` says it leads ``Ta``;
    4. kill and restart ``V`` and ``B`` (``B`` comes back a follower); resume ``B``'s helpers once both answer;
       wait (``second_wait``) for a leader among them. If ``V`` kept its vote across the restart, that leader's
       term is later than ``Ta``; if it forgot, it leads ``Ta`` too (Raft's Election Safety broken).

    Made for 3 nodes. It runs on any odd cluster, but on 5 a test run completed 1 try in 7 and that one's second
    election went past ``Ta`` (three nodes must agree there, and the old leader's longer log refuses the helper).

    Why one way and not a pause of ``A``: a paused process, when resumed, runs its expired timers before it reads
    what arrived meanwhile (measured with asyncio), so a paused candidate starts a new election instead of counting
    the votes that wait for it.

    A step that does not happen in time ends the try (``stopped`` says which; not an error: a resumed voter whose
    election timer ran out stands itself first, and a busy cluster may refuse the vote); the fault then undoes it
    and tries again with the parts moved round, up to ``attempts`` times. The completion has every try
    (``attempts``: its parts, ``steps`` with seconds since the start in ``at``, the roles at the end). Stop heals
    the partition, resumes and restarts everything.
    Must not: leave a node paused, down or cut off after stop/heal; start a try after ``budget`` seconds (a try
    lasts at most the sum of the waits plus a few seconds of restarts)."""

    name: str = "voter-restart"
    candidate_wait: float = 4.0
    vote_wait: float = 2.0
    restart_wait: float = 5.0
    second_wait: float = 6.0
    settle: float = 0.02
    poll: float = 0.005
    attempts: int = 6
    budget: float = 20.0
    wants_roles = True

    def check_nodes(self, count: int) -> None:
        _check_odd_cluster(count)

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        return Invocation(f"start-{self.name}", {"pick": round(rng.random(), 6)})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation(f"stop-{self.name}", {"nodes": None})

    @staticmethod
    def roles_of(nodes: Sequence[str], leader: str, pick: float) -> dict:
        """Pure: {"leader", "voter", "candidate", "candidate_helpers", "leader_helpers"} from the nodes, the
        leader, and ``pick`` in [0, 1) (which of the others plays which part)."""
        _check_odd_cluster(len(nodes))
        others = sorted(n for n in nodes if n != leader)
        k = int(pick * len(others)) % len(others)
        others = others[k:] + others[:k]
        helpers = (len(nodes) + 1) // 2 - 2
        return {"leader": leader, "voter": others[0], "candidate": others[1],
                "candidate_helpers": others[2:2 + helpers], "leader_helpers": others[2 + helpers:]}

    @staticmethod
    def first_grudge(parts: dict) -> dict:
        """Pure: the candidate cut from the leader's side, the leader cut from the candidate's (both ways); the
        voter still reaches everyone."""
        a, b = parts["candidate"], parts["leader"]
        cut: dict[str, set[str]] = {}
        for x, ys in ((a, [b, *parts["leader_helpers"]]), (b, [a, *parts["candidate_helpers"]])):
            for y in ys:
                cut.setdefault(x, set()).add(y)
                cut.setdefault(y, set()).add(x)
        return normalize(cut)

    def apply(self, cluster: "Cluster", inv: Invocation, roles=None) -> Any:
        if inv.f != f"start-{self.name}":
            return self.heal(cluster)
        if roles is None:
            raise BadInput("voter-restart steers by the nodes' roles: it runs only under `splitbrain run` with a "
                           "system that reports them (ReportsRoles)", "nemesis plan")
        plan = _plan(inv, dict, "an object with pick")
        try:
            pick = float(plan.get("pick", 0.0))
        except (TypeError, ValueError) as e:
            raise BadInput(f"malformed voter-restart plan {plan!r} ({e})", "nemesis plan") from None
        out: dict[str, Any] = {"began": round(time.time(), 3), "attempts": []}
        began = time.monotonic()
        current: dict[str, Any] = {}

        def step(name: str, **info) -> None:
            current["steps"].append({"step": name, "at": round(time.monotonic() - began, 3), **info})

        def wait_for(nodes: Sequence[str], cond, seconds: float) -> dict | None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                seen = roles(list(nodes))
                if cond(seen):
                    return seen
                time.sleep(self.poll)  # the controller's thread, not a node
            return None

        def leaders(seen: dict) -> dict:
            return {n: v.get("term") for n, v in sorted(seen.items()) if v.get("role") == "leader"}

        def attempt(pick: float) -> str | None:
            """One try; None when it got as far as a second leader, else why it stopped."""
            seen = wait_for(cluster.nodes, lambda r: bool(leaders(r)), self.candidate_wait)
            if seen is None:
                return "no leader to start from"
            lead = leaders(seen)
            b = max(lead, key=lambda n: lead[n] or 0)
            term0 = lead[b]
            parts = self.roles_of(cluster.nodes, b, pick)
            current.update(parts)
            v, a = parts["voter"], parts["candidate"]
            a_side, b_helpers = [a, *parts["candidate_helpers"]], parts["leader_helpers"]
            for n in [b, *b_helpers]:
                cluster.pause(n)
            time.sleep(self.settle)  # appends already sent land on both followers alike
            for n in [v, *parts["candidate_helpers"]]:
                cluster.pause(n)
            grudge = self.first_grudge(parts)
            appliers.apply_partition(cluster, grudge)
            step("paused-and-cut", term=term0, grudge=grudge)

            seen = wait_for([a], lambda r: (r.get(a) or {}).get("role") == "candidate"
                            and ((r.get(a) or {}).get("term") or 0) > term0, self.candidate_wait)
            if seen is None:
                return f"{a} did not stand for election"
            term_a = current["term"] = seen[a]["term"]
            time.sleep(self.settle)  # its vote requests reach the paused nodes' sockets
            # One way: from now on nobody hears A, while A still hears its voters (their replies arrive; only A's
            # acknowledgements are lost). So A can win, and nothing it sends as leader reaches the voter.
            muted = normalize({n: [*grudge.get(n, ()), a] for n in cluster.nodes})
            # Only the nodes whose rules change: the voter's election timer is running out while it is paused.
            appliers.apply_partition(cluster, muted, only=[n for n in muted if muted[n] != grudge.get(n)])
            step("candidate-muted", node=a, term=term_a, grudge=muted)

            for n in [v, *parts["candidate_helpers"]]:
                cluster.resume(n)
            seen = wait_for([a, v], lambda r: (r.get(a) or {}).get("role") == "leader"
                            and (r.get(a) or {}).get("term") == term_a, self.vote_wait)
            if seen is None:
                return f"{a} did not win term {term_a}"
            step("candidate-leads", node=a, term=term_a, voter_term=(seen.get(v) or {}).get("term"))

            for n in (v, b):
                cluster.kill(n)
            self._restart(cluster, [v, b])
            up = wait_for([v, b], lambda r: v in r and b in r, self.restart_wait) is not None
            step("voter-and-leader-restarted", nodes=[v, b], answering=up)
            for n in b_helpers:
                cluster.resume(n)
            rest = [n for n in cluster.nodes if n not in a_side]
            seen = wait_for(rest, lambda r: bool(leaders(r)), self.second_wait)
            if seen is None:
                return "no second leader"
            step("second-leader", leaders=leaders(seen))
            current["roles"] = roles(list(cluster.nodes))
            return None

        # ``step`` and ``attempt`` write into ``current``, which each try rebinds to a fresh record.
        for k in range(self.attempts):
            if time.monotonic() - began > self.budget:
                out["stopped"] = f"out of time after {k} tries"
                return out
            current = {"steps": []}
            out["attempts"].append(current)
            stopped = attempt((pick + k / self.attempts) % 1.0)
            if stopped is None:
                break
            current["stopped"] = stopped
            # Undo this try before the next: the vote may go the other way (a resumed voter whose election timer
            # ran out during its pause stands itself before it reads the waiting request).
            self.heal(cluster)
        else:
            out["stopped"] = f"no try got a second leader ({self.attempts} tries)"
        return out

    @staticmethod
    def _restart(cluster: "Cluster", nodes: Sequence[str]) -> list[str]:
        return KillPackage()._stop(cluster, list(nodes))["restarted"]

    def heal(self, cluster: "Cluster") -> Any:
        resumed = [n for n in cluster.nodes if cluster.is_paused(n)]
        for n in cluster.nodes:
            cluster.resume(n)  # every running node: harmless if it was not paused
        return {"resumed": resumed, "partition": appliers.heal_partition(cluster),
                "restarted": self._restart(cluster, cluster.nodes)}


PACKAGES: dict[str, FaultPackage] = {
    "partition": PartitionPackage(),
    "kill": KillPackage(),
    "pause": PausePackage(),
    "clock": ClockPackage(),
    "loss": LossPackage(),
    "crash": CrashPackage(),
    "chase": ChasePackage(),
    "flap": FlapPackage(),
    "voter-restart": VoterRestartPackage(),
    "delay": QueueFaultPackage(),
    "duplicate": QueueFaultPackage(name="duplicate", amounts=(0.2, 0.5, 0.9)),
    "reorder": QueueFaultPackage(name="reorder", amounts=(0.1, 0.3)),
    "rate": RatePackage(),
    "lose-unfsynced": LoseUnfsyncedPackage(),
    "corrupt": CorruptPackage(),
}


def package_for(f: str) -> FaultPackage:
    """The package that handles op ``f`` (``start-kill`` -> kill); BadInput if none does."""
    for pkg in PACKAGES.values():
        if f in pkg.fs:
            return pkg
    raise BadInput(f"no fault package handles {f!r}", "nemesis plan")


def apply(cluster: "Cluster", inv: Invocation) -> Any:
    """Carry out a nemesis invocation with the package that owns its ``f``."""
    return package_for(inv.f).apply(cluster, inv)


def heal_all(cluster: "Cluster") -> dict:
    """Undo every kind of fault (resume before restart, so a paused node is not mistaken for a dead one)."""
    order = ("pause", "partition", "loss", "delay", "rate", "clock", "kill", "lose-unfsynced")
    return {name: PACKAGES[name].heal(cluster) for name in order}
