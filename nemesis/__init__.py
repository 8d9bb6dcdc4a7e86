"""Faults: plans are pure data, appliers act on hosts through splitbrain.harness.api.Host.

``PACKAGES`` maps each fault kind's name (partition, kill, pause, ...: that dict in :mod:`splitbrain.nemesis.packages`
is the one list) to its package, which gives the generator pure ``start_op``/``stop_op`` plan functions;
``apply(cluster, invocation)`` carries a plan out and returns what was done; ``heal_all(cluster)`` undoes every
fault. ``SHAPES`` and the functions of :mod:`splitbrain.nemesis.grudge` build partition plans.
"""

from splitbrain.nemesis.grudge import SHAPES, Grudge, complete_grudge, majorities_ring, pairs
from splitbrain.nemesis.packages import PACKAGES, FaultPackage, apply, heal_all, package_for
from splitbrain.nemesis.targets import TARGETS, select_nodes

__all__ = ["PACKAGES", "SHAPES", "TARGETS", "FaultPackage", "Grudge", "apply", "complete_grudge", "heal_all",
           "majorities_ring", "package_for", "pairs", "select_nodes"]
