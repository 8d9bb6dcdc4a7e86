"""The fault contract, and what every fault shares.

A fault has
  * ``start_op(rng, nodes, leader=None) -> Invocation`` and ``stop_op(rng, nodes, leader=None, started=None)``:
    PURE; the generator calls them. ``f`` is ``start-<name>`` / ``stop-<name>``; ``value`` is the plan as JSON
    data (no host is touched, randomness only from ``rng``). ``started`` is the start invocation being undone, so a
    stop can target exactly the nodes the start hit (without it, a stop undoes the fault on every node).
  * ``apply(cluster, invocation, view=None) -> JSON value`` describing what was actually done (the nemesis worker
    records it as the completion of the "nemesis" op; no fault writes history). ``apply`` first lets the fault
    :meth:`Fault.aim` itself: a plan aimed at a target known only when it is applied (``leader``, ``primaries``:
    :data:`splitbrain.nemesis.targets.DYNAMIC`) is re-aimed at the nodes the ``view``
    (:class:`splitbrain.nemesis.faults.view.SystemView`) names now, and the completion says so under
    ``resolved``: ``{"target", "nodes", "leader", "term"}``, or ``{"target", "nodes", "fallback": true}`` when the
    view could not tell and the plan's own fallback nodes were hit. Subclasses implement :meth:`Fault.carry_out`.
  * ``heal(cluster) -> JSON value``: undo every fault of this kind, whatever happened before (the one heal path,
    :func:`splitbrain.nemesis.faults.heal.heal_all`, calls it in ``heal_rank`` order).
  * A fault made of several steps records them in its completion under ``steps``: ``[{"step": name, "at":
    seconds since apply began, ...}]`` (the report draws them on the fault's bar).

Faults are frozen dataclasses; their fields are options (``dataclasses.replace(FAULTS["kill"],
targets=("leader",))``). ``FAULTS`` holds the defaults.

Must not: raise for a plan that targets a node that is already down/healed (report it instead); accept a malformed
plan (BadInput naming the op); know the system (only the view, and the hooks below that take it).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis.faults.view import SystemView, resolve
from splitbrain.nemesis.grudge import isolate
from splitbrain.nemesis.targets import DYNAMIC, cut_off

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

#: The targets a process fault draws from by default (``--nemesis-targets`` or ``<fault>_targets`` narrow them).
PROCESS_TARGETS = ("one", "minority", "majority", "all", "leader")
#: Targets that need no knowledge of the system's roles.
STATIC_TARGETS = ("one", "minority", "majority", "all")

#: Heal ranks: processes are resumed first (so a paused node is not mistaken for a dead one), then links and
#: clocks are put right, and what is down is restarted last (into a healed network).
RESUME, NETWORK, CLOCK, RESTART = 0, 1, 2, 3


def plan_of(inv: Invocation, kind: type, what: str) -> Any:
    """The op's plan, checked to be a ``kind``; BadInput naming the op otherwise."""
    if not isinstance(inv.value, kind):
        raise BadInput(f"{inv.f} needs {what} as its value, not {inv.value!r}", "nemesis plan")
    return inv.value


def nodes_of(inv: Invocation, cluster: "Cluster") -> list[str]:
    """The nodes an op names (``value["nodes"]``), or every node when it names none."""
    value = inv.value if isinstance(inv.value, dict) else {}
    nodes = value.get("nodes")
    if nodes is None:
        return cluster.nodes
    for n in nodes:
        cluster.host(n)  # BadInput for an unknown node
    return list(nodes)


class StepLog:
    """The steps of a multi-step fault as its completion records them (``steps``): each ``{"step": name, "at":
    seconds since apply began, ...what it saw}``, in the order they happened."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.steps: list[dict] = []

    def record(self, name: str, **info: Any) -> dict:
        step = {"step": name, "at": round(time.monotonic() - self.began, 3), **info}
        self.steps.append(step)
        return step


@dataclass(frozen=True)
class Fault:
    name: str = ""
    #: The targets (splitbrain.nemesis.targets.TARGETS) this fault can be aimed at with ``--nemesis-targets``;
    #: empty for a fault that picks its nodes itself.
    accepts: ClassVar[tuple[str, ...]] = ()
    heal_rank: ClassVar[int] = NETWORK

    @property
    def description(self) -> str:
        """The first sentence of the fault's docstring, in plain text."""
        text = " ".join((type(self).__doc__ or "").strip().split()).replace("``", "")
        return text.split(". ")[0].rstrip(".") + "."

    @property
    def default_targets(self) -> tuple[str, ...]:
        return tuple(getattr(self, "targets", ()) or ())

    @property
    def fs(self) -> tuple[str, str]:
        return (f"start-{self.name}", f"stop-{self.name}")

    # -- before a run ------------------------------------------------------------------------------------------

    def check_nodes(self, count: int) -> None:
        """BadInput if this fault cannot work on a cluster of ``count`` nodes (checked before a run starts)."""

    def check_system(self, system: Any) -> None:
        """BadInput if this fault cannot work on ``system`` (a System; checked before a run starts)."""

    def for_system(self, system: Any) -> "Fault":
        """This fault with defaults the system supplies filled in (e.g. which files to damage); itself by default."""
        return self

    def prepare(self, cluster: "Cluster") -> Any:
        """Set the cluster up for this fault before any node starts (e.g. data dirs on a file system of the
        fault's own); the runner calls it once. Nothing by default."""
        return None

    # -- plans (pure) ------------------------------------------------------------------------------------------

    def stop_op(self, rng: random.Random | None = None, nodes: Sequence[str] = (), leader: str | None = None,
                started: Invocation | None = None) -> Invocation:
        targets = None
        # A start aimed at a dynamic target is re-aimed when it is applied, so its stop must not trust the nodes in
        # the plan: it undoes the fault everywhere.
        if (started is not None and isinstance(started.value, dict) and started.value.get("nodes") is not None
                and started.value.get("target") not in DYNAMIC):
            targets = list(started.value["nodes"])
        return Invocation(f"stop-{self.name}", {"nodes": targets})

    # -- applying ----------------------------------------------------------------------------------------------

    def dynamic_target(self, plan: Any) -> str | None:
        """The target of ``plan`` that only the system can resolve now (``leader``/``primaries``), or None."""
        if isinstance(plan, dict) and plan.get("target") in DYNAMIC:
            return plan["target"]
        return None

    def aimed(self, cluster: "Cluster", plan: dict, nodes: list[str]) -> dict:
        """Pure: ``plan`` aimed at ``nodes`` (found for its dynamic target). By default they replace its nodes."""
        return {**plan, "nodes": sorted(nodes)}

    def aim(self, cluster: "Cluster", inv: Invocation, view: SystemView | None) -> tuple[Invocation, dict | None]:
        """``inv`` aimed at the nodes its dynamic target names now, and what was resolved (None: nothing to
        resolve). Without a view, or when it can't tell, the plan keeps its own (fallback) nodes."""
        target = self.dynamic_target(inv.value)
        if target is None or view is None:
            return inv, None
        found = resolve(target, view)
        if found is None:
            return inv, {"target": target, "nodes": inv.value.get("nodes"), "fallback": True}
        nodes, said = found
        return Invocation(inv.f, self.aimed(cluster, inv.value, nodes), inv.key), {"target": target, "nodes": nodes,
                                                                                    **said}

    def apply(self, cluster: "Cluster", inv: Invocation, view: SystemView | None = None) -> Any:
        """Aim ``inv``, carry it out, and say what was done (with ``resolved`` when a target was resolved)."""
        inv, resolved = self.aim(cluster, inv, view)
        out = self.carry_out(cluster, inv, view)
        if resolved is None:
            return out
        return {**out, "resolved": resolved} if isinstance(out, dict) else {"result": out, "resolved": resolved}

    def carry_out(self, cluster: "Cluster", inv: Invocation, view: SystemView | None) -> Any:
        raise NotImplementedError

    def heal(self, cluster: "Cluster") -> Any:
        raise NotImplementedError


class GrudgeAiming:
    """For faults whose plan is a grudge (partitions, slow links): a plan aimed at the leader (shape
    ``isolate-leader``) isolates the node that leads now, and a ``cut-off`` plan is re-cut around its new nodes."""

    def dynamic_target(self, plan: Any) -> str | None:
        if isinstance(plan, dict) and plan.get("shape") == "isolate-leader":
            return "leader"
        return Fault.dynamic_target(self, plan)  # type: ignore[arg-type]

    def aimed(self, cluster: "Cluster", plan: dict, nodes: list[str]) -> dict:
        if plan.get("shape") == "isolate-leader":
            return {**plan, "grudge": isolate(cluster.nodes, None, nodes[0])}
        plan = {**plan, "nodes": sorted(nodes)}
        if plan.get("shape") == "cut-off":
            plan["grudge"] = cut_off(cluster.nodes, nodes)
        return plan
