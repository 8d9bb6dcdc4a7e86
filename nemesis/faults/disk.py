"""Disk faults: ``lose-unfsynced`` (power loss on the lazy file system, :mod:`splitbrain.nemesis.lazyfs`) and
``corrupt`` (a damaged file, :mod:`splitbrain.nemesis.corruption`). Both take the node down for the damage and
start it again."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis import corruption, disk_appliers
from splitbrain.nemesis.faults.base import StepLog, nodes_of, plan_of
from splitbrain.nemesis.faults.process import KillFault
from splitbrain.nemesis.targets import select_nodes

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster


@dataclass(frozen=True)
class LoseUnfsyncedFault(KillFault):
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
        steps = StepLog()
        killed = [n for n in nodes if cluster.kill(n)]  # all at once, as one power cut
        steps.record("killed", nodes=killed)
        lost = [disk_appliers.unmount(cluster, n, power_loss=True) for n in nodes]
        steps.record("unfsynced-dropped", nodes=list(nodes))
        for n in nodes:
            disk_appliers.mount(cluster, n)
        steps.record("remounted", nodes=list(nodes))
        restarted = self._stop(cluster, nodes)
        steps.record("restarted", nodes=restarted["restarted"])
        return {"killed": killed, "lost": lost, **restarted, "steps": steps.steps}


@dataclass(frozen=True)
class CorruptFault(KillFault):
    """A damaged disk: while the target is down, flip bits in (``bitflip``), flip a digit inside a stored value so
    the record still parses (``value``) or cut the tail off (``truncate``) one file of its data dir, then start it
    again. The default draws ``bitflip`` and ``truncate``; ``corrupt_modes`` chooses (``value`` is not a default:
    in a file with its own checksums, such as SQLite's WAL, a flip anywhere cuts the log there, and on several
    nodes in turn that takes committed entries a Raft majority held, unless the system refuses such a log). Which
    files: the plan's ``files`` (glob patterns relative to the
    data dir), else ``patterns``, else the system's ``data_files`` (its log and snapshot files); the plan's
    ``pick`` chooses one of those that exist (sorted), its ``seed`` the offsets. The completion records file,
    offsets and bytes before and after (:mod:`splitbrain.nemesis.corruption`). The stop op restarts whatever is down. On
    SSH hosts the corrupter runs on the node's host (shipped, :mod:`splitbrain.nemesis.remote_code`)."""

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

    def for_system(self, system: Any) -> "CorruptFault":
        """Damages the files the system declares (``data_files``) unless told which (``patterns``)."""
        if self.patterns:
            return self
        return dataclasses.replace(self, patterns=tuple(getattr(system, "data_files", ())))

    def _patterns(self, cluster: "Cluster", plan: dict) -> list[str]:
        if plan.get("files"):
            return [str(p) for p in plan["files"]]
        # ``for_system`` fills ``patterns`` from the system's ``data_files`` (the runner; the CLI gives files).
        return list(self.patterns)

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f != "start-corrupt":
            return self._stop(cluster, nodes_of(inv, cluster))
        plan = plan_of(inv, dict, "an object with nodes and mode")
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
        nodes = nodes_of(inv, cluster) if plan.get("nodes") is not None else []
        done, steps = [], StepLog()
        for n in nodes:
            killed = cluster.kill(n)
            steps.record("killed", nodes=[n] if killed else [])
            done.append({"node": n, "killed": killed,
                         **disk_appliers.corrupt(cluster, n, patterns, pick, mode, rng, flips)})
            steps.record("corrupted", node=n, file=done[-1].get("file"))
        restarted = self._stop(cluster, nodes)
        steps.record("restarted", nodes=restarted["restarted"])
        return {"corrupted": done, **restarted, "steps": steps.steps}
