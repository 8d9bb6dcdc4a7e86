"""Snapshot isolation's cycles: the exact test, and the shortest G-nonadjacent cycle as evidence.

Snapshot isolation allows a dependency cycle only when two of its rw (anti-dependency) edges are adjacent: write
skew. Cerone and Gotsman ("Analysing snapshot isolation", JACM 2018) characterise it exactly on the dependency
graph: a history is SI iff the relation ``(ww ∪ wr) ; rw?`` is acyclic, i.e. there is no closed walk in which every
rw edge comes right after a ww or wr edge. So SI is decided on a *product graph* whose states are (transaction,
whether the walk's last edge was rw): a ww/wr edge leads from either state to "last not rw", an rw edge only from
"last not rw" to "last rw". The product graph has a cycle iff the history has a G0, G1c, G-single or G-nonadjacent
cycle (a closed walk splits at a repeated transaction into two shorter ones, one of which keeps the property), so
:func:`si_cyclic` settles SI in linear time, with no search budget.

:func:`nonadjacent_cycles` finds the evidence for the last class, **G-nonadjacent**: a cycle with two or more rw
edges, no two of them adjacent (cyclically). It runs a breadth-first search over states (transaction, last edge rw,
one or several rw edges so far) from each rw edge of a component and keeps the shortest simple cycle found (a
shortest walk that repeats a transaction is split into simple cycles; where none of those qualifies, a bounded
depth-first search over simple paths looks further).
"""

from __future__ import annotations

import math
import time
from collections import deque

from splitbrain.checkers.txn.graph import RW, WR, WW

FLOW = WW | WR

#: The shortest possible G-nonadjacent cycle: rw, ww/wr, rw, ww/wr. The search stops when it has one this short.
SHORTEST = 4


def si_cyclic(adj: list[dict], nodes) -> set[int]:
    """The transactions of ``nodes`` on a closed walk of ww/wr/rw edges with no two rw edges in a row (the
    product graph's states left after peeling those with no incoming edge, mapped back to transactions). Empty
    iff the subgraph on ``nodes`` has no G0, G1c, G-single or G-nonadjacent cycle: snapshot isolation's cycles."""
    within = set(nodes)
    # state 2v: v reached by a ww/wr edge (or the walk's start); 2v+1: v reached by an rw edge
    indeg: dict[int, int] = {}
    get = indeg.get
    for u in within:
        for w, m in adj[u].items():
            if w in within:
                if m & FLOW:
                    indeg[2 * w] = get(2 * w, 0) + 2   # from both states of u
                if m & RW:
                    indeg[2 * w + 1] = get(2 * w + 1, 0) + 1
    left = {s for u in within for s in (2 * u, 2 * u + 1)}
    queue = [s for s in left if not get(s, 0)]
    while queue:
        s = queue.pop()
        left.discard(s)
        u = s >> 1
        for w, m in adj[u].items():
            if w not in within:
                continue
            if m & FLOW:
                t = 2 * w
                indeg[t] -= 1
                if not indeg[t]:
                    queue.append(t)
            if m & RW and not s & 1:
                t = 2 * w + 1
                indeg[t] -= 1
                if not indeg[t]:
                    queue.append(t)
    return {s >> 1 for s in left}


def is_nonadjacent(kinds: list[int]) -> bool:
    """Whether a cycle's edge kinds hold two or more rw edges, no two of them in a row (cyclically)."""
    n = len(kinds)
    return sum(k == RW for k in kinds) >= 2 and not any(kinds[i] == RW and kinds[(i + 1) % n] == RW
                                                         for i in range(n))


def _simple_part(steps: list[tuple[int, int, int]]) -> list | None:
    """A closed walk made simple: split it at a repeated transaction into two closed walks and keep one that is
    still G-nonadjacent (recursively); None when no part is."""
    first_at: dict[int, int] = {}
    for i, (a, _, _) in enumerate(steps):
        j = first_at.get(a)
        if j is None:
            first_at[a] = i
            continue
        inner, outer = steps[j:i], steps[:j] + steps[i:]
        for part in (inner, outer):
            if is_nonadjacent([k for _, _, k in part]):
                found = _simple_part(part)
                if found:
                    return found
        return None
    return steps


def _from_edge(adj: list[dict], a: int, b: int, within: set, budget: list[int],
               limit: int) -> list | None:
    """The shortest closed walk a -rw-> b ... -> a (ww/wr into a) with rw edges never adjacent and at least two
    of them, no longer than ``limit`` edges, as steps; None if there is none (or the budget ran out)."""
    # state: v * 4 + (last edge rw) * 2 + (two or more rw edges so far)
    start = b * 4 + 2
    prev = {start: None}
    queue = deque(((start, 1),))
    while queue:
        s, depth = queue.popleft()
        if depth >= limit:
            return None
        budget[0] -= 1
        if budget[0] < 0:
            return None
        v, last_rw, many = s >> 2, s & 2, s & 1
        for w, m in adj[v].items():
            if w not in within:
                continue
            if m & FLOW:
                if w == a:
                    if many:
                        steps = [(v, a, WW if m & WW else WR)]
                        while s is not None:
                            p = prev[s]
                            if p is None:
                                break
                            ps, kind = p
                            steps.append((ps >> 2, s >> 2, kind))
                            s = ps
                        steps.append((a, b, RW))
                        steps.reverse()
                        return steps
                else:
                    t = w * 4 + many
                    if t not in prev:
                        prev[t] = (s, WW if m & WW else WR)
                        queue.append((t, depth + 1))
            if m & RW and not last_rw and w != a:
                t = w * 4 + 3
                if t not in prev:
                    prev[t] = (s, RW)
                    queue.append((t, depth + 1))
    return None


def _steps(adj: list[dict], v: int, last_rw: bool, within: set):
    """The (successor, kind) steps a walk may take from ``v``: ww/wr edges always, rw ones unless it just took
    one."""
    for w, m in adj[v].items():
        if w in within:
            if m & FLOW:
                yield w, WW if m & WW else WR
            if m & RW and not last_rw:
                yield w, RW


def _simple_from_edge(adj: list[dict], a: int, b: int, within: set, budget: list[int]) -> list | None:
    """A simple cycle a -rw-> b ... -> a with two or more rw edges, never adjacent, by depth-first search over
    simple paths (the fallback where every shortest walk repeats a transaction); None if there is none or the
    budget ran out."""
    path = [(a, b, RW)]
    on_path = {a, b}
    # each frame: (node, iterator over its (successor, kind) choices, last edge rw, rw edges so far)
    stack = [(b, _steps(adj, b, True, within), True, 1)]
    while stack:
        v, it, last_rw, n_rw = stack[-1]
        budget[0] -= 1
        if budget[0] < 0:
            return None
        for w, kind in it:
            if w == a:
                if kind != RW and n_rw >= 2:
                    return path + [(v, a, kind)]
                continue
            if w in on_path:
                continue
            path.append((v, w, kind))
            on_path.add(w)
            rw = kind == RW
            stack.append((w, _steps(adj, w, rw, within), rw, n_rw + rw))
            break
        else:
            stack.pop()
            if len(path) > 1:
                on_path.discard(path.pop()[1])
    return None


#: Node visits the depth-first fallback may spend per component (of the shared budget).
FALLBACK_VISITS = 100_000


def nonadjacent_cycles(adj: list[dict], comp: list[int], budget: list[int],
                       deadline: float = math.inf) -> list | None:
    """The shortest simple G-nonadjacent cycle of the component ``comp`` (steps ``(from, to, kind)``), trying a
    breadth-first search from each of its rw edges; None if there is none, or the shortest found so far when
    ``budget`` (node visits, shared) ran out or the ``deadline`` (time.monotonic) passed. Where every shortest walk
    found repeats a transaction (the component then also has a G-single, G0 or G1c cycle), a depth-first search
    over simple paths gets FALLBACK_VISITS more visits to find one."""
    within = set(comp)
    best = None
    for a in sorted(comp):
        for b, m in sorted(adj[a].items()):
            if not m & RW or b not in within:
                continue
            limit = len(best) - 1 if best else 4 * len(comp) + 1
            walk = _from_edge(adj, a, b, within, budget, limit)
            if walk is not None:
                cycle = _simple_part(walk)
                if cycle is not None and (best is None or len(cycle) < len(best)):
                    best = cycle
                    if len(best) <= SHORTEST:
                        return best
            if budget[0] < 0 or time.monotonic() > deadline:
                return best
    if best is None and budget[0] > 0:
        spare = [min(budget[0], FALLBACK_VISITS)]
        spent = spare[0]
        for a in sorted(comp):
            for b, m in sorted(adj[a].items()):
                if m & RW and b in within and spare[0] > 0:
                    best = _simple_from_edge(adj, a, b, within, spare)
                    if best is not None:
                        break
            if best is not None or spare[0] <= 0 or time.monotonic() > deadline:
                break
        budget[0] -= spent - max(spare[0], 0)
    return best
