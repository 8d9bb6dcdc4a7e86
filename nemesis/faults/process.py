"""Process faults: ``kill`` (SIGKILL, then restart), ``pause`` (SIGSTOP/SIGCONT), ``crash`` (hang, then die) and
``flap`` (a bridge node killed and restarted again and again on lossy links). They act through ``Cluster``
methods (signals, restarts) and :mod:`splitbrain.nemesis.appliers`."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis import appliers
from splitbrain.nemesis.faults.base import PROCESS_TARGETS, RESTART, RESUME, Fault, StepLog, nodes_of, plan_of
from splitbrain.nemesis.grudge import complete_grudge
from splitbrain.nemesis.targets import TARGETS, select_nodes

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster


@dataclass(frozen=True)
class KillFault(Fault):
    """SIGKILL then restart (same argv, same data dir)."""

    name: str = "kill"
    targets: tuple[str, ...] = PROCESS_TARGETS
    accepts = TARGETS
    heal_rank = RESTART

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        target = rng.choice(self.targets)
        return Invocation(f"start-{self.name}", {"target": target,
                                                  "nodes": select_nodes(rng, nodes, target, leader)})

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f == f"start-{self.name}":
            plan = plan_of(inv, dict, "an object with nodes")
            nodes = nodes_of(inv, cluster) if plan.get("nodes") is not None else []
            return self._start(cluster, nodes)
        return self._stop(cluster, nodes_of(inv, cluster))

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
class PauseFault(KillFault):
    """SIGSTOP then SIGCONT of the node's whole process group."""

    name: str = "pause"
    heal_rank = RESUME

    def _start(self, cluster: "Cluster", nodes: list[str]) -> dict:
        done = [n for n in nodes if cluster.pause(n)]
        return {"paused": done, "not-running": [n for n in nodes if n not in done]}

    def _stop(self, cluster: "Cluster", nodes: list[str]) -> dict:
        return {"resumed": [n for n in nodes if cluster.resume(n)]}


@dataclass(frozen=True)
class CrashFault(KillFault):
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

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f == f"start-{self.name}":
            plan = plan_of(inv, dict, "an object with nodes and hold")
            try:
                hold = min(max(float(plan.get("hold", 0.5)), 0.0), 10.0)
            except (TypeError, ValueError):
                raise BadInput(f"malformed crash plan {plan!r} (hold must be seconds)", "nemesis plan") from None
            nodes = nodes_of(inv, cluster) if plan.get("nodes") is not None else []
            steps = StepLog()
            frozen = [n for n in nodes if cluster.pause(n)]
            steps.record("hung", nodes=frozen)
            try:
                time.sleep(hold)  # the controller's thread, not a node: nodes must never time.sleep
            finally:
                killed = [n for n in frozen if cluster.kill(n)]
                steps.record("killed", nodes=killed)
            return {"hold": hold, "hung": frozen, "killed": killed,
                    "not-running": [n for n in nodes if n not in frozen], "steps": steps.steps}
        return self._stop(cluster, nodes_of(inv, cluster))


@dataclass(frozen=True)
class FlapFault(KillFault):
    """A flapping bridge node on lossy links: the target (the leader by default, re-aimed when the op is applied at
    whoever leads then) becomes the one node that talks to both halves of the others (a ``bridge``
    partition around it), the other nodes' incoming packets are dropped with probability ``loss`` (iptables
    ``statistic``), and the target is killed and restarted ``len(flaps)`` times, each time down then up for the
    plan's seconds (apply blocks that long, at most ``MAX_SECONDS``); each kill and restart is a recorded step. Stop
    heals the partition and the loss and restarts whatever is down.

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
        # The stop restarts every down node: the start may have been re-aimed at another node when applied.
        return Invocation(f"stop-{self.name}", {"nodes": None})

    @staticmethod
    def bridge_around(nodes: Sequence[str], middle: str) -> dict:
        """The grudge that cuts the other nodes into two halves (alternating in sorted order) that only
        ``middle`` joins."""
        others = sorted(n for n in nodes if n != middle)
        halves = [others[0::2], others[1::2]]
        return complete_grudge(halves) if halves[1] else {}

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f != f"start-{self.name}":
            return {"partition": appliers.heal_partition(cluster), "loss": appliers.heal_loss(cluster),
                    **self._stop(cluster, cluster.nodes)}
        plan = plan_of(inv, dict, "an object with nodes, loss and flaps")
        try:
            middle = nodes_of(inv, cluster)[0]
            loss = float(plan["loss"])
            flaps = [(max(float(d), 0.0), max(float(u), 0.0)) for d, u in plan["flaps"]]
        except (IndexError, KeyError, TypeError, ValueError) as e:
            raise BadInput(f"malformed flap plan {plan!r} ({e})", "nemesis plan") from None
        if sum(d + u for d, u in flaps) > self.MAX_SECONDS:
            raise BadInput(f"flap plan {plan!r} runs longer than {self.MAX_SECONDS} s", "nemesis plan")
        grudge = self.bridge_around(cluster.nodes, middle)
        steps = StepLog()
        out = {"middle": middle, "grudge": grudge, **appliers.apply_partition(cluster, grudge),
               "loss": appliers.apply_loss(cluster, [n for n in cluster.nodes if n != middle], loss),
               "killed": 0, "restarted": 0, "steps": steps.steps}
        steps.record("bridged", node=middle)
        for d, u in flaps:
            killed = bool(cluster.kill(middle))
            out["killed"] += killed
            steps.record("down", node=middle, killed=killed)
            try:
                time.sleep(d)  # the controller's thread, not a node: nodes must never time.sleep
            finally:
                restarted = bool(self._stop(cluster, [middle])["restarted"])
                out["restarted"] += restarted
                steps.record("up", node=middle, restarted=restarted)
            time.sleep(u)
        return out

    def heal(self, cluster: "Cluster") -> Any:
        return {"partition": appliers.heal_partition(cluster), "loss": appliers.heal_loss(cluster),
                **self._stop(cluster, cluster.nodes)}
