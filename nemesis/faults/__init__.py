"""Faults: for each kind, pure plan functions plus how a plan is carried out and healed.

``base`` is the contract (:class:`Fault`: plans, aiming at the nodes a view names, apply, heal); ``view`` what a
fault may ask the system when it is applied; one module per family: ``network`` (partition, chase, loss, delay,
duplicate, reorder, rate), ``process`` (kill, pause, crash, flap), ``clock``, ``disk`` (lose-unfsynced, corrupt),
``voter_restart``; ``registry`` the names (``FAULTS``, ``fault_for``, ``apply``); ``heal`` the one heal path.
"""

from splitbrain.nemesis.faults.base import Fault
from splitbrain.nemesis.faults.heal import heal_all, heal_order
from splitbrain.nemesis.faults.registry import FAULTS, apply, fault_for
from splitbrain.nemesis.faults.view import BlindView, FixedView, SystemView

__all__ = ["FAULTS", "BlindView", "Fault", "FixedView", "SystemView", "apply", "fault_for", "heal_all",
           "heal_order"]
