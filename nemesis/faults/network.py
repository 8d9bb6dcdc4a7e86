"""Network faults: partitions (``partition``, ``chase``), packet loss (``loss``), slow links (``delay``,
``duplicate``, ``reorder``) and bandwidth caps (``rate``). Plans are grudges (:mod:`splitbrain.nemesis.grudge`);
the appliers are :mod:`splitbrain.nemesis.appliers` (iptables) and :mod:`splitbrain.nemesis.link_appliers`
(the packet program, tc)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis import appliers, link_appliers
from splitbrain.nemesis.faults.base import STATIC_TARGETS, Fault, GrudgeAiming, nodes_of, plan_of
from splitbrain.nemesis.grudge import SHAPES
from splitbrain.nemesis.targets import TARGETS, cut_off, select_nodes

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster


@dataclass(frozen=True)
class PartitionFault(GrudgeAiming, Fault):
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

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f == "start-partition":
            plan = plan_of(inv, dict, "an object with a grudge")
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
class ChaseFault(GrudgeAiming, Fault):
    """Chase the leader: both the start and the stop op isolate whoever leads when the op is applied (shape
    ``isolate-leader``: the fault asks the system who leads, waiting out an election in progress), and a new
    isolation replaces the previous one with no healed gap in between. Only the final heal reconnects all.

    With a short nemesis interval this cuts off each newly elected leader soon after it is known, and lets the
    one cut off before rejoin: the successive leaders with entries no one else has that Raft's Figure 8 is about
    (a leader that commits an earlier term's entry by counting replicas can then lose it). Without a known
    leader the plan's own random node is isolated (``resolved.fallback`` in the completion)."""

    name: str = "chase"

    def _op(self, f: str, rng: random.Random, nodes: Sequence[str]) -> Invocation:
        rng = rng or random.Random(0)
        return Invocation(f, {"shape": "isolate-leader", "grudge": SHAPES["isolate-leader"](sorted(nodes), rng, None)})

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        return self._op(f"start-{self.name}", rng, nodes)

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return self._op(f"stop-{self.name}", rng, nodes)

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.value is None:  # a stop with no plan (by hand): reconnect
            return appliers.heal_partition(cluster)
        plan = plan_of(inv, dict, "an object with a grudge")
        try:
            return {"shape": plan.get("shape"), **appliers.apply_partition(cluster, plan.get("grudge", {}))}
        except ValueError as e:
            raise BadInput(str(e), "nemesis plan") from None

    def heal(self, cluster: "Cluster") -> Any:
        return appliers.heal_partition(cluster)


@dataclass(frozen=True)
class LossFault(Fault):
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

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f == "start-loss":
            plan = plan_of(inv, dict, "an object with nodes and probability")
            try:
                return appliers.apply_loss(cluster, nodes_of(inv, cluster), float(plan["probability"]))
            except (KeyError, TypeError, ValueError) as e:
                raise BadInput(f"malformed loss plan {plan!r} ({e})", "nemesis plan") from None
        return appliers.heal_loss(cluster)

    def heal(self, cluster: "Cluster") -> Any:
        return appliers.heal_loss(cluster)


@dataclass(frozen=True)
class QueueFault(GrudgeAiming, Fault):
    """Slow links, applied and healed like partitions: a grudge shape (``shapes``) picks the links (``{receiver:
    [senders]}``), and the packet program (:mod:`splitbrain.nemesis.netqueue`) holds, duplicates or reorders what the
    senders send on them. ``delay`` holds every packet ``delay_ms`` (one of ``amounts``) +- ``jitter`` of it;
    ``duplicate`` sends each packet twice with a probability from ``amounts``; ``reorder`` holds that share of packets
    a further ``reorder_ms`` so that later ones overtake them. One fault of the three at a time: a new start replaces
    the last one. Local namespace clusters only (``splitbrain.nemesis.link_appliers``)."""

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

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f != f"start-{self.name}":
            return link_appliers.heal_queue_fault(cluster)
        plan = plan_of(inv, dict, "an object with a grudge")
        try:
            return {"shape": plan.get("shape"),
                    **link_appliers.apply_queue_fault(cluster, plan.get("grudge", {}), plan,
                                                      int(plan.get("seed", 0)))}
        except (TypeError, ValueError) as e:
            raise BadInput(f"malformed {self.name} plan {plan!r} ({e})", "nemesis plan") from None

    def heal(self, cluster: "Cluster") -> Any:
        return link_appliers.heal_queue_fault(cluster)


@dataclass(frozen=True)
class RateFault(GrudgeAiming, Fault):
    """A bandwidth cap on some links (grudge shapes as for partitions): each sender's packets to each receiver
    of the plan share ``kbit`` kilobits per second (an htb class; tc netem is unavailable). Local clusters only."""

    name: str = "rate"
    shapes: tuple[str, ...] = ("all", "halves", "isolate", "one-way")
    amounts: tuple[int, ...] = (64, 256, 1024)

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        shape = rng.choice(self.shapes)
        return Invocation("start-rate", {"shape": shape, "grudge": SHAPES[shape](sorted(nodes), rng, leader),
                                         "kbit": rng.choice(self.amounts)})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation("stop-rate", None)

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        if inv.f != "start-rate":
            return link_appliers.heal_rate(cluster)
        plan = plan_of(inv, dict, "an object with a grudge and kbit")
        try:
            return {"shape": plan.get("shape"),
                    **link_appliers.apply_rate(cluster, plan.get("grudge", {}), int(plan["kbit"]))}
        except (KeyError, TypeError, ValueError) as e:
            raise BadInput(f"malformed rate plan {plan!r} ({e})", "nemesis plan") from None

    def heal(self, cluster: "Cluster") -> Any:
        return link_appliers.heal_rate(cluster)
