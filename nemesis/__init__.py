"""Fault injection: plans, appliers, and the one heal path.

``FAULTS`` maps each fault's name (what ``--nemesis`` takes: partition, kill, pause, clock, loss, crash, chase,
flap, voter-restart, delay, duplicate, reorder, rate, lose-unfsynced, corrupt; ``splitbrain faults`` lists them) to
a :class:`Fault` with pure ``start_op``/``stop_op`` (the generator calls them) and ``apply``/``heal`` (the nemesis
worker calls them; see :mod:`splitbrain.nemesis.faults`). A fault aimed at the leader or the primaries asks a
:class:`SystemView` who they are when it is applied, and its completion says what it resolved.
``apply(cluster, invocation)`` carries a plan out and returns what was done; ``heal_all(cluster)`` undoes every
fault. :mod:`splitbrain.nemesis.grudge` builds partition plans, :mod:`splitbrain.nemesis.targets` picks nodes.
"""

from splitbrain.nemesis.faults import (FAULTS, BlindView, Fault, FixedView, SystemView, apply, fault_for, heal_all)
from splitbrain.nemesis.grudge import SHAPES, Grudge, complete_grudge, majorities_ring, pairs
from splitbrain.nemesis.targets import TARGETS, select_nodes

__all__ = ["FAULTS", "SHAPES", "TARGETS", "BlindView", "Fault", "FixedView", "Grudge", "SystemView", "apply",
           "complete_grudge", "fault_for", "heal_all", "majorities_ring", "pairs", "select_nodes"]
