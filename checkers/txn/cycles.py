"""Finding the cycle anomalies (Adya's, as Elle names them) in the dependency graph.

Within each strongly connected component:

- **G0** (write cycle): a cycle of ww edges only;
- **G1c** (circular information flow): a cycle of ww and wr edges with at least one wr;
- **G-single** (read skew): a cycle with exactly one rw edge;
- **G2-item** (write skew and worse): a cycle with two or more rw edges (searched where no G-single was found);
- **G-nonadjacent** (data edges only: what snapshot isolation forbids beyond G-single): a cycle with two or more rw
  edges, no two adjacent (``search_nonadjacent``, see :mod:`splitbrain.checkers.txn.nonadjacent`).

With ``extra`` edge kinds (process, real-time) allowed beside ww and wr, the same search gives ``G0-process``,
``G-single-realtime`` and so on: a cycle is named after the strongest extra order it needs. Each cycle is the
shortest one through its first edge (breadth first). The search is bounded by a budget of node visits; a search
that runs out says so (``complete`` false), which can only make a verdict ``unknown``, never ``true``.
"""

from __future__ import annotations

import math
import time

from splitbrain.checkers.txn.graph import DATA, PROCESS, REALTIME, RW, WR, WW, cyclic_part, sccs, shortest_path
from splitbrain.checkers.txn.nonadjacent import nonadjacent_cycles

#: Cycles kept per anomaly type (counted beyond that).
MAX_CYCLES = 10
# Label preference for an edge that has several kinds: data dependencies first, so a cycle is named by the weakest
# order it needs.
_PREFERENCE = (WW, WR, PROCESS, REALTIME, RW)


def _label(adj, path: list[int], allowed: int) -> list[tuple[int, int, int]]:
    """The steps of a closed node path (first node repeated at the end) with one kind each."""
    steps = []
    for a, b in zip(path, path[1:]):
        m = adj[a][b] & allowed
        steps.append((a, b, next(k for k in _PREFERENCE if m & k)))
    return steps


def _name(base: str, steps) -> str:
    kinds = {k for _, _, k in steps}
    if REALTIME in kinds:
        return base + "-realtime"
    if PROCESS in kinds:
        return base + "-process"
    return base


class CycleSearch:
    """Collects cycles per anomaly name into ``found`` (name -> list of step lists) and ``counts`` (components
    where one was found). ``complete`` turns false when the visit budget ran out."""

    def __init__(self, adj: list[dict], budget: int = 2_000_000):
        self.adj = adj
        self.budget = [budget]
        self.found: dict[str, list[list[tuple[int, int, int]]]] = {}
        self.counts: dict[str, int] = {}
        self.complete = True
        self._seen: set = set()

    def _keep(self, base: str, steps) -> None:
        name = _name(base, steps)
        sig = (base, frozenset(a for a, _, _ in steps))
        if sig in self._seen:
            return
        self._seen.add(sig)
        self.counts[name] = self.counts.get(name, 0) + 1
        cycles = self.found.setdefault(name, [])
        if len(cycles) < MAX_CYCLES:
            cycles.append(steps)

    def _closed(self, a: int, b: int, mask: int, within: set, first: int) -> list | None:
        """A cycle starting with the edge a -> b (labelled ``first``) and returning over ``mask`` edges."""
        path = shortest_path(self.adj, b, a, mask, within, self.budget)
        if path is None:
            if self.budget[0] < 0:
                self.complete = False
            return None
        return [(a, b, first)] + _label(self.adj, path, mask)

    def search(self, nodes, extra: int = 0) -> None:
        """Search the subgraph on ``nodes`` with ww/wr/rw edges plus the ``extra`` kinds."""
        adj = self.adj
        base = WW | extra
        flow = base | WR
        full = flow | RW
        for comp in sccs(adj, full, cyclic_part(adj, full, nodes)):
            if self.budget[0] < 0:
                self.complete = False
                return
            within = set(comp)
            # G0: a cycle of ww (and the extra orders) alone
            for c in sccs(adj, base, cyclic_part(adj, base, comp)):
                cs = set(c)
                a = c[0]
                b = next(w for w, m in adj[a].items() if m & base and w in cs)
                steps = self._closed(a, b, base, cs, _label(adj, [a, b], base)[0][2])
                if steps:
                    self._keep("G0", steps)
            # G1c: ww and wr, through at least one wr edge
            for c in sccs(adj, flow, cyclic_part(adj, flow, comp)):
                cs = set(c)
                edge = next(((a, b) for a in c for b, m in adj[a].items() if m & WR and b in cs), None)
                if edge is not None:
                    steps = self._closed(edge[0], edge[1], flow, cs, WR)
                    if steps:
                        self._keep("G1c", steps)
            # G-single: one rw edge closed by ww/wr (and extra) edges; else G2-item: any rw edge closes somehow
            rw_edges = [(a, b) for a in comp for b, m in adj[a].items() if m & RW and b in within]
            single = False
            for a, b in rw_edges:
                steps = self._closed(a, b, flow, within, RW)
                if steps:
                    self._keep("G-single", steps)
                    single = True
                    break
                if not self.complete:
                    break
            if not single and self.complete and rw_edges:
                a, b = rw_edges[0]
                steps = self._closed(a, b, full, within, RW)
                if steps:
                    self._keep("G2-item", steps)

    def search_nonadjacent(self, nodes, budget: int, deadline: float = math.inf) -> None:
        """The shortest G-nonadjacent cycle of each component of the data-edge subgraph on ``nodes`` (the
        transactions :func:`splitbrain.checkers.txn.nonadjacent.si_cyclic` left). ``budget`` node visits of its own:
        this is evidence for a verdict already decided, so running out (or past ``deadline``) leaves ``complete``
        alone."""
        left = [budget]
        for comp in sccs(self.adj, DATA, nodes):
            if left[0] < 0 or time.monotonic() > deadline:
                return
            steps = nonadjacent_cycles(self.adj, comp, left, deadline)
            if steps:
                self._keep("G-nonadjacent", steps)
