"""The faults a run can name (``--nemesis``), by name, with their default options; and the op that owns an ``f``.

The names are what users type and what histories hold (``start-<name>``/``stop-<name>``): never rename one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from splitbrain.harness.api import Invocation
from splitbrain.history.errors import BadInput
from splitbrain.nemesis.faults.base import Fault
from splitbrain.nemesis.faults.clock import ClockFault
from splitbrain.nemesis.faults.disk import CorruptFault, LoseUnfsyncedFault
from splitbrain.nemesis.faults.network import ChaseFault, LossFault, PartitionFault, QueueFault, RateFault
from splitbrain.nemesis.faults.process import CrashFault, FlapFault, KillFault, PauseFault
from splitbrain.nemesis.faults.voter_restart import VoterRestartFault

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster
    from splitbrain.nemesis.faults.view import SystemView

FAULTS: dict[str, Fault] = {
    "partition": PartitionFault(),
    "kill": KillFault(),
    "pause": PauseFault(),
    "clock": ClockFault(),
    "loss": LossFault(),
    "crash": CrashFault(),
    "chase": ChaseFault(),
    "flap": FlapFault(),
    "voter-restart": VoterRestartFault(),
    "delay": QueueFault(),
    "duplicate": QueueFault(name="duplicate", amounts=(0.2, 0.5, 0.9)),
    "reorder": QueueFault(name="reorder", amounts=(0.1, 0.3)),
    "rate": RateFault(),
    "lose-unfsynced": LoseUnfsyncedFault(),
    "corrupt": CorruptFault(),
}


def fault_for(f: str, faults: dict[str, Fault] | None = None) -> Fault:
    """The fault (of ``faults``, default :data:`FAULTS`) that handles op ``f`` (``start-kill`` -> kill); BadInput if
    none does."""
    for fault in (FAULTS if faults is None else faults).values():
        if f in fault.fs:
            return fault
    raise BadInput(f"no fault handles {f!r}", "nemesis plan")


def apply(cluster: "Cluster", inv: Invocation, view: "SystemView | None" = None) -> Any:
    """Carry out a nemesis invocation with the fault that owns its ``f``."""
    return fault_for(inv.f).apply(cluster, inv, view)
