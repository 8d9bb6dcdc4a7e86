"""The replicated data types, op-based: pure state plus ``apply(update)``. No I/O, no clocks, no asyncio.

Updates arrive here exactly once each and (in the correct variant) in causal order; op-based CRDTs rely on that.
An update is ``{"id": "n1:7", "origin": "n1", "seq": 7, "vc": {...}, "op": {...}}``; ``op["t"]`` names the type:

- ``gcounter`` / ``counter``: ``{"t", "k", "d"}`` adds ``d`` (a G-Counter rejects negative deltas before this point;
  both keep per-origin P and N totals so the state reads as the classic state-based counters).
- ``set-add``: ``{"t", "k", "e"}`` (its tag is the update id); ``set-remove``: ``{"t", "k", "e", "tags"}`` removes the add-tags the
  origin had observed (OR-Set, add wins: a concurrent add's tag is not among them). With ``two_phase=True`` a remove
  tombstones the element instead: it is gone and later adds of it are ignored forever (the seeded ``two-phase-set``
  bug; replicas still converge).
- ``lww``: ``{"t", "k", "v", "ts"}``, ``ts = [time, origin]``; the largest ``ts`` wins.
- ``mv``: ``{"t", "k", "v", "over"}`` replaces the entries (update ids) the origin had observed; concurrent writes
  stay side by side (multi-value register).

Keys and set elements are any JSON values; they are stored under their canonical JSON text.
"""

from __future__ import annotations

import json


def canon(value) -> str:
    """Canonical JSON text of a value (used as a dict key: JSON values need not be hashable)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def sort_values(values) -> list:
    """A stable, human order for read results: numbers numerically first, then everything else by JSON text."""
    def key(v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, v, "")
        return (1, 0, canon(v))
    return sorted(values, key=key)


class Replica:
    """All objects of one replica. Reads never change state; ``apply`` is the only mutator."""

    def __init__(self, *, two_phase: bool = False):
        self.two_phase = two_phase
        self.counters: dict[tuple[str, str], dict] = {}   # (type, key) -> {"p": {origin: n}, "n": {...}}
        self.sets: dict[str, dict] = {}                    # key -> {"tags": {elem: set(tag)}, "tomb": set(elem)}
        self.lww: dict[str, tuple[list, object]] = {}      # key -> (ts, value)
        self.mv: dict[str, dict] = {}                      # key -> {update id: value}
        self.max_ts = 0                                    # largest LWW time seen (for the hybrid clock)

    # ------------------------------------------------------------------------------------------------ apply
    def apply(self, u: dict) -> None:
        op = u["op"]
        t = op["t"]
        k = canon(op.get("k"))
        if t in ("gcounter", "counter"):
            c = self.counters.setdefault((t, k), {"p": {}, "n": {}})
            d = op["d"]
            side = c["p"] if d >= 0 else c["n"]
            side[u["origin"]] = side.get(u["origin"], 0) + abs(d)
        elif t == "set-add":
            s = self.sets.setdefault(k, {"tags": {}, "tomb": set()})
            e = canon(op["e"])
            if self.two_phase and e in s["tomb"]:
                return  # the seeded bug: a removed element can never come back
            s["tags"].setdefault(e, set()).add(u["id"])
        elif t == "set-remove":
            s = self.sets.setdefault(k, {"tags": {}, "tomb": set()})
            e = canon(op["e"])
            if self.two_phase:
                # A 2P-set: the tombstone removes the element outright, whatever adds it has or hasn't seen.
                s["tags"].pop(e, None)
                s["tomb"].add(e)
                return
            tags = s["tags"].get(e)
            if tags is not None:
                tags.difference_update(op["tags"])
                if not tags:
                    del s["tags"][e]
        elif t == "lww":
            ts = op["ts"]
            self.max_ts = max(self.max_ts, ts[0])
            cur = self.lww.get(k)
            if cur is None or ts > cur[0]:
                self.lww[k] = (ts, op["v"])
        elif t == "mv":
            entries = self.mv.setdefault(k, {})
            for old in op["over"]:
                entries.pop(old, None)
            entries[u["id"]] = op["v"]
        else:
            raise ValueError(f"unknown op type {t!r}")

    # ------------------------------------------------------------------------------------------------ reads
    def counter(self, t: str, key) -> int:
        c = self.counters.get((t, canon(key)))
        return 0 if c is None else sum(c["p"].values()) - sum(c["n"].values())

    def set_tags(self, key, elem) -> list:
        s = self.sets.get(canon(key))
        return [] if s is None else sorted(s["tags"].get(canon(elem), ()))

    def set_read(self, key) -> list:
        s = self.sets.get(canon(key))
        return [] if s is None else sort_values(json.loads(e) for e in s["tags"])

    def lww_read(self, key):
        cur = self.lww.get(canon(key))
        return None if cur is None else cur[1]

    def mv_ids(self, key) -> list:
        return sorted(self.mv.get(canon(key), {}))

    def mv_read(self, key) -> list:
        return sort_values(self.mv.get(canon(key), {}).values())

    def snapshot(self) -> dict:
        """Every object's read value, for final reads and debugging: type -> [[key, value], ...]."""
        out: dict[str, list] = {"gcounter": [], "counter": [], "set": [], "lww": [], "mv": []}
        for (t, k), _ in sorted(self.counters.items()):
            out[t].append([json.loads(k), self.counter(t, json.loads(k))])
        for k in sorted(self.sets):
            out["set"].append([json.loads(k), self.set_read(json.loads(k))])
        for k in sorted(self.lww):
            out["lww"].append([json.loads(k), self.lww[k][1]])
        for k in sorted(self.mv):
            out["mv"].append([json.loads(k), self.mv_read(json.loads(k))])
        return out
