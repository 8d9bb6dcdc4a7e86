"""Delivery of updates: vector clocks and the buffer that holds an update until it may be delivered.

An update from ``origin`` with sequence number ``seq`` carries ``vc``: the origin's delivered counts when it was
made, with ``vc[origin] = seq``. The correct rule (causal broadcast): deliver when ``seq == delivered[origin] + 1``
and ``vc[k] <= delivered[k]`` for every other replica ``k``. The ``fifo-only`` rule checks only the first part, so an
update can overtake one it depends on that came by another path (the seeded bug). Both rules deliver each update
at most once and never leave a gap in one origin's sequence.
"""

from __future__ import annotations


class DeliveryBuffer:
    def __init__(self, *, causal: bool = True):
        self.causal = causal
        self.delivered: dict[str, int] = {}            # origin -> highest seq delivered (no gaps)
        self.pending: dict[str, dict[int, dict]] = {}  # origin -> seq -> update waiting for its dependencies

    def known(self, u: dict) -> bool:
        """Delivered already, or waiting here."""
        o, s = u["origin"], u["seq"]
        return s <= self.delivered.get(o, 0) or s in self.pending.get(o, ())

    def _deliverable(self, u: dict) -> bool:
        o = u["origin"]
        if u["seq"] != self.delivered.get(o, 0) + 1:
            return False
        if not self.causal:
            return True
        return all(n <= self.delivered.get(k, 0) for k, n in u["vc"].items() if k != o)

    def offer(self, u: dict) -> list[dict]:
        """Take one update; return the updates that became deliverable, in delivery order (marked delivered)."""
        if self.known(u):
            return []
        self.pending.setdefault(u["origin"], {})[u["seq"]] = u
        out: list[dict] = []
        progress = True
        while progress:
            # Only the next seq of each origin can be deliverable, so each pass is O(origins).
            progress = False
            for o, waiting in list(self.pending.items()):
                nxt = waiting.get(self.delivered.get(o, 0) + 1)
                if nxt is not None and self._deliverable(nxt):
                    del waiting[nxt["seq"]]
                    if not waiting:
                        del self.pending[o]
                    self.delivered[o] = nxt["seq"]
                    out.append(nxt)
                    progress = True
        return out

    def pending_count(self) -> int:
        return sum(len(w) for w in self.pending.values())
