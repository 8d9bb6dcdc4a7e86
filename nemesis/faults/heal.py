"""The one heal path: undo every fault a run may have left in force, at the end of a test (the ``heal-all`` op),
on cleanup after an error, and by hand (``splitbrain nemesis heal``).

Faults heal in ``heal_rank`` order (resume, then network, then clocks, then restart: a paused node must not be
mistaken for a dead one, and restarted nodes come back into a healed network), each by its own ``heal``.
Must not: stop at the first fault that fails to heal (the rest still heal; the failure is in the result).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Mapping

from splitbrain.nemesis.faults.base import Fault
from splitbrain.nemesis.faults.registry import FAULTS

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

log = logging.getLogger(__name__)


def heal_order(faults: Mapping[str, Fault]) -> list[str]:
    """Pure: the names of ``faults`` in the order they heal (by rank; as given within a rank)."""
    return sorted(faults, key=lambda name: faults[name].heal_rank)


def heal_all(cluster: "Cluster", faults: Mapping[str, Fault] | None = None) -> dict:
    """Heal ``faults`` (default: every kind, :data:`FAULTS`); ``{name: what its heal did}``, or ``{"error":
    ...}`` for one that failed. JSON data: the completion of the ``heal-all`` op."""
    faults = FAULTS if faults is None else faults
    done = {}
    for name in heal_order(faults):
        try:
            done[name] = faults[name].heal(cluster)
        except Exception as e:  # noqa: BLE001 - one fault's heal failing must not leave the others in force
            log.warning("healing %s failed: %s", name, e)
            done[name] = {"error": f"{type(e).__name__}: {e}"}
    return done


def heal_errors(healed: dict) -> list[str]:
    """The faults whose heal failed, from a :func:`heal_all` result."""
    return [name for name, v in healed.items() if isinstance(v, dict) and "error" in v]
