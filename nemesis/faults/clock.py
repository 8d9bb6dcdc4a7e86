"""The clock fault: node clocks moved through libfaketime (:func:`splitbrain.nemesis.appliers.strobe` and the
cluster's clock offsets)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis import appliers
from splitbrain.nemesis.faults.base import CLOCK, STATIC_TARGETS, Fault, nodes_of, plan_of
from splitbrain.nemesis.targets import select_nodes

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster


@dataclass(frozen=True)
class ClockFault(Fault):
    """Clock offsets through libfaketime: ``offset`` (set), ``bump`` (add), ``strobe`` (flip back and forth for a
    while; apply blocks for ``strobe_duration``); stop resets every clock to real time."""

    name: str = "clock"
    modes: tuple[str, ...] = ("offset", "bump", "strobe")
    targets: tuple[str, ...] = STATIC_TARGETS
    accepts = STATIC_TARGETS
    heal_rank = CLOCK
    max_offset: float = 60.0
    strobe_period: float = 0.2
    strobe_duration: float = 2.0

    def check_system(self, system: Any) -> None:
        if not getattr(system, "faketime", True):
            raise BadInput(f"{system.name} runs without the clock shim (its System says faketime = False), so the "
                           "clock fault could not move its clocks", "--nemesis")

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

    def carry_out(self, cluster: "Cluster", inv: Invocation, view=None) -> Any:
        plan = plan_of(inv, dict, "an object with a mode") if inv.f == "start-clock" else {"mode": "reset"}
        mode = plan.get("mode")
        nodes = nodes_of(inv, cluster)
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
