"""What a fault may ask about the system under test at the moment it is applied: its view of the cluster.

A fault's plan is pure data drawn by the generator, which cannot know who leads when the fault is finally applied.
So a plan aimed at ``leader`` or ``primaries`` names a fallback node, and the fault, when applied, asks a
:class:`SystemView` who those nodes are now and aims itself there (:meth:`splitbrain.nemesis.faults.base.Fault.aim`).

The calls block (a fault runs in the nemesis worker's thread, never on the clients' event loop). Each answers
``None`` when the system cannot tell at all (it lacks the capability: KnowsLeader, KnowsPrimaries, ReportsRoles);
an empty answer means it can tell but nobody answered now.

Must not: be called from the event loop thread (the runner's view runs the system's coroutines on that loop and
waits for them).
"""

from __future__ import annotations

import time
from typing import Protocol, Sequence


class SystemView(Protocol):
    def leader(self) -> tuple[str | None, int | None] | None:
        """(leader, term) as the system reports it now, waiting out an election in progress for a while;
        ``(None, term)`` when there is none; None when the system can't say."""

    def primaries(self) -> list[str] | None:
        """The nodes the system reports as primaries now (sorted), or None when it can't say."""

    def roles(self, nodes: Sequence[str]) -> dict | None:
        """``{node: {"role", "term"}}`` for the given nodes that answered now (one quick poll), or None when the
        system does not report roles."""

    def time_left(self) -> float | None:
        """Seconds until the run's client load ends (negative once it has), or None when there is no such end. A
        fault that keeps trying (voter-restart) starts no new try after it: the run waits for the fault."""


class BlindView:
    """A view that knows nothing: a fault applied with it keeps its plan's own nodes (``splitbrain nemesis``
    commands, unit tests). The same as applying with no view at all."""

    def leader(self):
        return None

    def primaries(self):
        return None

    def roles(self, nodes):
        return None

    def time_left(self):
        return None


class FixedView:
    """A view with fixed answers (tests, and replays of what a system said)."""

    def __init__(self, leader: str | None = None, term: int | None = None, primaries: Sequence[str] | None = None,
                 roles: dict | None = None, time_left: float | None = None):
        self._leader, self._term = leader, term
        self._ends_at = None if time_left is None else time.monotonic() + time_left
        self._primaries = None if primaries is None else sorted(primaries)
        self._roles = roles

    def leader(self):
        return (self._leader, self._term)

    def primaries(self):
        return self._primaries

    def roles(self, nodes):
        if self._roles is None:
            return None
        return {n: r for n, r in self._roles.items() if n in nodes}

    def time_left(self):
        return None if self._ends_at is None else self._ends_at - time.monotonic()


def resolve(target: str, view: SystemView | None) -> tuple[list[str], dict] | None:
    """The nodes a dynamic target names now, and what the view said (``leader``/``term``); None when the view could
    not tell (no view, no capability, or no leader/primary found)."""
    if view is None:
        return None
    if target == "leader":
        found = view.leader()
        if not found or found[0] is None:
            return None
        return [found[0]], {"leader": found[0], "term": found[1]}
    if target == "primaries":
        nodes = view.primaries()
        return (sorted(nodes), {}) if nodes else None
    raise ValueError(f"{target!r} is not a target resolved when a fault is applied")
