"""Partition plans as pure data: a *grudge* maps each node to the sorted list of nodes whose packets it drops.

``{"n1": ["n3"], "n3": ["n1"]}`` cuts n1 and n3 apart in both directions; ``{"n3": ["n1"]}`` alone is one-way (n1
hears n3, n3 does not hear n1). Nodes that drop nothing are left out. Shapes follow Jepsen's ``nemesis`` namespace.
Every function here is pure: randomness comes only from the ``rng`` argument (a ``random.Random``), and none of
them mutates its input or touches a host.
"""

from __future__ import annotations

import random
from typing import Callable, Iterable, Sequence

Grudge = dict[str, list[str]]


def majority(n: int) -> int:
    """The smallest number of nodes that is more than half of ``n``."""
    return n // 2 + 1


def normalize(grudge: dict[str, Iterable[str]]) -> Grudge:
    """Canonical form: keys and lists sorted, no self-grudges, no empty entries (equal plans compare equal)."""
    out = {}
    for node in sorted(grudge):
        srcs = sorted({s for s in grudge[node] if s != node})
        if srcs:
            out[node] = srcs
    return out


def complete_grudge(components: Sequence[Sequence[str]]) -> Grudge:
    """Every node drops packets from every node outside its own component (components don't talk at all)."""
    g: dict[str, set[str]] = {}
    everyone = [n for c in components for n in c]
    for comp in components:
        for node in comp:
            g[node] = set(everyone) - set(comp)
    return normalize(g)


def bisect(nodes: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split in two; the second half is the larger one when ``len(nodes)`` is odd (as Jepsen's ``bisect``)."""
    k = len(nodes) // 2
    return list(nodes[:k]), list(nodes[k:])


def _shuffled(nodes: Sequence[str], rng: random.Random | None) -> list[str]:
    nodes = list(nodes)
    if rng is not None:
        rng.shuffle(nodes)
    return nodes


def halves(nodes: Sequence[str], rng: random.Random | None = None) -> Grudge:
    """First half against second half, in the given order (a minority and a majority for odd counts)."""
    return complete_grudge(bisect(list(nodes)))


def random_halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """Halves of a random permutation."""
    return complete_grudge(bisect(_shuffled(nodes, rng)))


def isolate(nodes: Sequence[str], rng: random.Random | None = None, node: str | None = None) -> Grudge:
    """One node (``node``, e.g. the leader, or a random one) cut off from all others."""
    nodes = list(nodes)
    if node is None:
        node = (rng or random.Random(0)).choice(nodes)
    if node not in nodes:
        raise ValueError(f"cannot isolate {node!r}: not one of {nodes}")
    return complete_grudge([[node], [n for n in nodes if n != node]])


def majorities_ring(nodes: Sequence[str], rng: random.Random | None = None) -> Grudge:
    """Every node sees a majority (itself included), and for three or more nodes no two see the same one: the
    nodes sit on a (shuffled) ring and each sees the window of ``majority(n)`` consecutive nodes it is the middle
    of. As Jepsen's ``majorities-ring``; visibility need not be symmetric when the window size is even."""
    ring = _shuffled(nodes, rng)
    n = len(ring)
    if n == 0:
        return {}
    m = majority(n)
    g = {}
    for start in range(n):
        window = [ring[(start + k) % n] for k in range(m)]
        center = window[m // 2]
        g[center] = set(ring) - set(window)
    return normalize(g)


def bridge(nodes: Sequence[str], rng: random.Random | None = None) -> Grudge:
    """Two halves that cannot talk, joined by one node that talks to both (as Jepsen's ``bridge``): the first
    node of the larger half is the bridge. With fewer than three nodes there is nothing to cut."""
    a, b = bisect(_shuffled(nodes, rng))
    if not a or len(b) < 2:
        return {}
    return complete_grudge([a, b[1:]])


def one_way(nodes: Sequence[str], rng: random.Random | None = None, *, hearing: Sequence[str] | None = None,
            deaf: Sequence[str] | None = None) -> Grudge:
    """A one-way cut: nodes in ``deaf`` drop packets from nodes in ``hearing``, while ``hearing`` still hears
    ``deaf``. Defaults: random halves (``hearing`` the first half)."""
    if hearing is None or deaf is None:
        a, b = bisect(_shuffled(nodes, rng))
        hearing = hearing if hearing is not None else a
        deaf = deaf if deaf is not None else [n for n in b if n not in hearing]
    overlap = set(hearing) & set(deaf)
    if overlap:
        raise ValueError(f"a node cannot both hear and be deaf: {sorted(overlap)}")
    return normalize({d: list(hearing) for d in deaf})


def pairs(grudge: Grudge) -> set[tuple[str, str]]:
    """``(receiver, sender)`` for every blocked direction."""
    return {(dst, src) for dst, srcs in grudge.items() for src in srcs}


def validate(grudge: object, nodes: Sequence[str]) -> Grudge:
    """The grudge in canonical form; ValueError naming the problem if it is not node -> list of known nodes."""
    if not isinstance(grudge, dict):
        raise ValueError(f"a grudge is an object of node -> [nodes], not {type(grudge).__name__}")
    known = set(nodes)
    for dst, srcs in grudge.items():
        if dst not in known:
            raise ValueError(f"unknown node {dst!r} in grudge")
        if not isinstance(srcs, (list, tuple, set)) or any(s not in known for s in srcs):
            raise ValueError(f"grudge entry for {dst!r} must list known nodes, got {srcs!r}")
    return normalize(grudge)


#: Shape name -> function(nodes, rng, target) used by the partition fault and ``splitbrain nemesis partition``.
#: ``target`` is a node the shape should single out (e.g. the leader) where that means something, else ignored.
SHAPES: dict[str, Callable[[Sequence[str], random.Random, str | None], Grudge]] = {
    "halves": lambda nodes, rng, target=None: halves(nodes),
    "random-halves": lambda nodes, rng, target=None: random_halves(nodes, rng),
    "isolate": lambda nodes, rng, target=None: isolate(nodes, rng, target),
    # The current leader cut off (a random node when no leader is known; the fault re-aims itself when it is
    # applied, since a pure plan can't know who leads at that moment).
    "isolate-leader": lambda nodes, rng, target=None: isolate(nodes, rng, target),
    "majorities-ring": lambda nodes, rng, target=None: majorities_ring(nodes, rng),
    "bridge": lambda nodes, rng, target=None: bridge(nodes, rng),
    "one-way": lambda nodes, rng, target=None: one_way(nodes, rng),
    # Every link, both ways (for slow-network faults: the whole network is slow; as a partition: all alone).
    "all": lambda nodes, rng, target=None: complete_grudge([[n] for n in nodes]),
}
