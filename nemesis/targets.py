"""Fault targets: which nodes a fault hits (Jepsen's ``:one``, ``:minority``, ``:majority``, ``:all``,
``:primaries``), as pure functions of the node names and a seeded rng.

``one`` is one node, ``minority`` ``(n-1)//2`` nodes (at least one), ``majority`` ``n//2+1``, ``all`` every node.
``leader`` and ``primaries`` depend on the system's own view at the moment a fault is applied: a plan names one
random node as a fallback, and the fault, when applied, aims itself at the node(s) the system reports then
(:meth:`splitbrain.nemesis.faults.base.Fault.aim`; its completion's ``resolved`` says which, with ``fallback:
true`` when the system could not tell). :func:`cut_off` is the partition
a target means: the targets on one side, the rest on the other (``all``: every node alone).

Must not: draw randomness from anywhere but ``rng``, or return unsorted or repeated nodes.
"""

from __future__ import annotations

import random
from typing import Sequence

from splitbrain.nemesis.grudge import Grudge, complete_grudge, majority

TARGETS = ("one", "minority", "majority", "all", "leader", "primaries")

#: Targets a fault resolves when it is applied, from what the system reports.
DYNAMIC = frozenset({"leader", "primaries"})

DESCRIPTIONS = {
    "one": "one random node",
    "minority": "(n-1)//2 random nodes (at least one)",
    "majority": "n//2+1 random nodes",
    "all": "every node",
    "leader": "the node the system reports as leader when the fault is applied (KnowsLeader)",
    "primaries": "the nodes the system reports as primaries when the fault is applied (KnowsPrimaries)",
}


def size(target: str, n: int) -> int | None:
    """How many of ``n`` nodes ``target`` picks (None for the dynamic targets: it depends on the system)."""
    if target == "one":
        return min(1, n)
    if target == "minority":
        return min(n, max(1, (n - 1) // 2))
    if target == "majority":
        return majority(n)
    if target == "all":
        return n
    if target in DYNAMIC:
        return None
    raise ValueError(f"unknown target {target!r} (known: {', '.join(TARGETS)})")


def select_nodes(rng: random.Random, nodes: Sequence[str], target: str, leader: str | None = None) -> list[str]:
    """Pure: which nodes a fault hits. ``leader``/``primaries`` name ``leader`` when it is given and one of the
    nodes, else one random node (the fault re-aims itself when it is applied). Sorted output."""
    nodes = sorted(nodes)
    if not nodes:
        return []
    if target in DYNAMIC:
        return [leader] if leader in nodes else [rng.choice(nodes)]
    k = size(target, len(nodes))
    return nodes if k == len(nodes) else sorted(rng.sample(nodes, k))


def cut_off(nodes: Sequence[str], targets: Sequence[str]) -> Grudge:
    """The partition that isolates ``targets`` from the other nodes (both ways); every node alone when the targets
    are all the nodes (a group of every node would cut nothing)."""
    nodes = sorted(nodes)
    chosen = sorted(set(targets) & set(nodes))
    if len(chosen) == len(nodes):
        return complete_grudge([[n] for n in nodes])
    rest = [n for n in nodes if n not in chosen]
    return complete_grudge([chosen, rest]) if chosen else {}
