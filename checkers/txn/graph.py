"""The dependency graph: transactions are dense int ids, edges carry a bit mask of their kinds.

``adj[a]`` is a dict ``b -> mask``. Every search takes the mask of the edge kinds it may use, so one graph serves
the data-only search (ww, wr, rw) and the ones with process or real-time order added. Plain lists and dicts on
purpose: this is the checker's hot path (see bench/bench_txn.py).
"""

from __future__ import annotations

import os
from collections import deque
from typing import Iterable

try:  # the optional native core (checkers/txn/_txn_native.c); without it, the same test in Python
    from splitbrain.checkers.txn import _txn_native
except ImportError:  # pragma: no cover - only where no C compiler built it
    _txn_native = None

WW, WR, RW, PROCESS, REALTIME = 1, 2, 4, 8, 16
DATA = WW | WR | RW
ALL = DATA | PROCESS | REALTIME
KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}


def new_graph(n: int) -> list[dict]:
    return [{} for _ in range(n)]


def add_edge(adj: list[dict], a: int, b: int, kind: int) -> None:
    d = adj[a]
    d[b] = d.get(b, 0) | kind


def cyclic_part(adj: list[dict], mask: int, nodes: Iterable[int] | None = None) -> list[int]:
    """The nodes (of ``nodes``, default all) left after repeatedly removing nodes with no incoming ``mask`` edges
    inside the set: every cycle lies in what is left (with whatever the cycles lead to), and an acyclic graph
    leaves nothing. This is the cheap test that settles a valid history without an SCC search."""
    if nodes is None:
        return _cyclic_part_all(adj, mask)
    indeg = dict.fromkeys(nodes, 0)
    for a in indeg:
        for b, m in adj[a].items():
            if m & mask and b in indeg:
                indeg[b] += 1
    queue = [a for a, d in indeg.items() if d == 0]
    while queue:
        a = queue.pop()
        del indeg[a]
        for b, m in adj[a].items():
            if m & mask and b in indeg:
                d = indeg[b] - 1
                indeg[b] = d
                if d == 0:
                    queue.append(b)
    return list(indeg)


def native() -> bool:
    """Whether :func:`cyclic_all` runs natively (the core was built, and SPLITBRAIN_PURE=1 does not forbid it)."""
    return _txn_native is not None and os.environ.get("SPLITBRAIN_PURE") != "1"


def native_core():
    """The native module when it may be used (see :func:`native`), else None."""
    return _txn_native if native() else None


def cyclic_all(adj: list[dict], events: list[int] | None = None) -> list[int]:
    """``cyclic_part(adj, ALL)``, natively when it can. With ``events`` (native only, see :func:`native`), also
    counting the real-time edges :func:`splitbrain.checkers.txn.orders.add_realtime_edges` would add for them,
    without adding them: on a valid history they are never needed again."""
    if native():
        return _txn_native.peel(adj, events)
    if events is not None:
        raise ValueError("real-time events without the native core: add the edges first")
    return _cyclic_part_all(adj, ALL)


def _cyclic_part_all(adj: list[dict], mask: int) -> list[int]:
    """cyclic_part over the whole graph, with lists for speed (the hot path of a valid history)."""
    n = len(adj)
    indeg = [0] * n
    if mask == ALL:  # the usual case (every edge counts): no mask tests
        for d in adj:
            for b in d:
                indeg[b] += 1
        queue = [a for a, i in enumerate(indeg) if not i]
        pop, push = queue.pop, queue.append
        while queue:
            for b in adj[pop()]:
                i = indeg[b] - 1
                indeg[b] = i
                if not i:
                    push(b)
    else:
        for d in adj:
            for b, m in d.items():
                if m & mask:
                    indeg[b] += 1
        queue = [a for a, i in enumerate(indeg) if not i]
        pop, push = queue.pop, queue.append
        while queue:
            for b, m in adj[pop()].items():
                if m & mask:
                    i = indeg[b] - 1
                    indeg[b] = i
                    if not i:
                        push(b)
    return [a for a, i in enumerate(indeg) if i > 0]


def sccs(adj: list[dict], mask: int, nodes: Iterable[int]) -> list[list[int]]:
    """Strongly connected components with more than one node of the subgraph induced by ``nodes`` over ``mask``
    edges (an iterative Tarjan; self-loops never occur: a transaction has no edge to itself)."""
    alive = set(nodes)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in alive:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(adj[root].items()))]
        while work:
            v, it = work[-1]
            pushed = False
            for w, m in it:
                if not (m & mask) or w not in alive:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(adj[w].items())))
                    pushed = True
                    break
                if w in on_stack and index[w] < low[v]:
                    low[v] = index[w]
            if pushed:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def shortest_path(adj: list[dict], src: int, dst: int, mask: int, within: set[int],
                  budget: list[int] | None = None) -> list[int] | None:
    """The shortest path ``src -> ... -> dst`` over ``mask`` edges inside ``within`` (breadth first), as a node
    list, or None. ``budget`` is a one-element list of node visits left, shared across calls so that a whole
    search can be bounded; it is decremented here and the search stops (None) when it runs out."""
    if src == dst:
        return [src]
    prev = {src: src}
    queue = deque((src,))
    while queue:
        v = queue.popleft()
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                return None
        for w, m in adj[v].items():
            if m & mask and w in within and w not in prev:
                prev[w] = v
                if w == dst:
                    path = [w]
                    while w != src:
                        w = prev[w]
                        path.append(w)
                    path.reverse()
                    return path
                queue.append(w)
    return None
