"""The replica records of the quorum KV store and their merge functions: pure data and pure functions, no I/O.

Three kinds of object live under a key, each with a record a replica stores and a merge that replicas, read repair
and WAL replay all use:

``reg`` (register, for ``read``/``write``): ``{"v": [counter, node], "x": value}``. Records are totally ordered by
``(counter, node, canonical JSON of value)``; merge keeps the greater one. ``(counter, node)`` is the ABD version.
The value is a last tie-break for one case only: a coordinator that crashed mid-write and restarted forgets which
counters it already issued, so it can issue the same ``(counter, node)`` again for a different value. Without the
tie-break two replicas could keep different values under the same version forever and reads would flip between
them; with it, every replica picks the same winner.

``set`` (grow-only set, for ``set-add``/``set-read``): ``{"e": [elements, sorted]}``; merge is union. Elements are
ints or strings (not bools: ``True == 1`` in Python would merge two different elements).

``ctr`` (PN-counter, for ``counter-add``/``counter-read``): ``{"p": {node: total}, "n": {node: total}}``; each
coordinator owns its own entries and only ever grows them, merge takes the per-entry max, the value is
``sum(p) - sum(n)``. A coordinator must persist its own entry before sending it anywhere (see the coordinator),
otherwise after a crash it could restart below a total it already replicated and its next add would vanish under
the max.

All merges are commutative, associative and idempotent, which is what makes replay, compaction and read repair safe
in any order and any number of times. Functions here never mutate their arguments.
"""

from __future__ import annotations

import json
from typing import Any, Callable

KINDS = ("reg", "set", "ctr")

#: The version of a key nobody wrote: lower than any version a coordinator issues (counters start at 1).
ZERO_VERSION: tuple[int, str] = (0, "")


class BadRecord(ValueError):
    """A record (or an element/delta inside one) that does not have the shape its kind requires."""


def canonical(value: Any) -> str:
    """A deterministic JSON encoding, used to compare values and to key dicts by JSON keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ------------------------------------------------------------------------------------------------ register versions


def version_of(rec: dict | None) -> tuple[int, str]:
    """The ABD version ``(counter, node)`` of a register record; ZERO_VERSION for a missing one."""
    if rec is None:
        return ZERO_VERSION
    c, n = rec["v"]
    return (c, n)


def register_order(rec: dict | None) -> tuple[int, str, str]:
    """The total order on register records: version first, then the value's canonical JSON as tie-break."""
    if rec is None:
        return (0, "", "")
    c, n = rec["v"]
    return (c, n, canonical(rec.get("x")))


def next_version(highest: tuple[int, str], node: str) -> tuple[int, str]:
    """ABD multi-writer: a new version above the highest one a read quorum reported, tagged with the writer."""
    return (highest[0] + 1, node)


def wallclock_version(now_us: int, last_us: int, node: str) -> tuple[int, str]:
    """The lww-wallclock variant's version: the coordinator's wall clock in microseconds, kept strictly above the
    last one this coordinator issued (so its own writes never tie). Across nodes nothing orders them but the
    clocks themselves: that is the seeded bug."""
    return (max(now_us, last_us + 1), node)


def merge_register(a: dict | None, b: dict | None) -> dict | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if register_order(a) >= register_order(b) else b


def covers_register(a: dict | None, b: dict | None) -> bool:
    return register_order(a) >= register_order(b)


# ------------------------------------------------------------------------------------------------ grow-only set


def _element_order(e: int | str) -> tuple[int, int | str]:
    # ints before strings, each in natural order: a total order on the allowed elements
    return (0, e) if isinstance(e, int) else (1, e)


def check_element(e: Any) -> int | str:
    if isinstance(e, bool) or not isinstance(e, (int, str)):
        raise BadRecord(f"set elements must be integers or strings, not {canonical(e)[:60]}")
    return e


def sorted_elements(elements) -> list:
    return sorted(set(elements), key=_element_order)


def merge_set(a: dict | None, b: dict | None) -> dict | None:
    if a is None:
        return b
    if b is None:
        return a
    return {"e": sorted_elements([*a["e"], *b["e"]])}


def covers_set(a: dict | None, b: dict | None) -> bool:
    if b is None:
        return True
    return set(b["e"]) <= set(a["e"] if a else ())


def set_value(rec: dict | None) -> list:
    return list(rec["e"]) if rec else []


# ------------------------------------------------------------------------------------------------ PN-counter


def _max_entries(x: dict, y: dict) -> dict:
    # zero totals are dropped so that equal counters have equal representations (merge stays commutative)
    out = {node: max(x.get(node, 0), y.get(node, 0)) for node in x.keys() | y.keys()}
    return {node: t for node, t in sorted(out.items()) if t > 0}


def merge_counter(a: dict | None, b: dict | None) -> dict | None:
    if a is None:
        return b
    if b is None:
        return a
    return {"p": _max_entries(a["p"], b["p"]), "n": _max_entries(a["n"], b["n"])}


def covers_counter(a: dict | None, b: dict | None) -> bool:
    if b is None:
        return True
    a = a or {"p": {}, "n": {}}
    return all(a[side].get(node, 0) >= total for side in ("p", "n") for node, total in b[side].items())


def counter_value(rec: dict | None) -> int:
    if rec is None:
        return 0
    return sum(rec["p"].values()) - sum(rec["n"].values())


def own_entry(rec: dict | None, node: str) -> tuple[int, int]:
    """This node's own ``(p, n)`` totals in a counter record."""
    if rec is None:
        return (0, 0)
    return (rec["p"].get(node, 0), rec["n"].get(node, 0))


def counter_increment(own: tuple[int, int], node: str, delta: int) -> tuple[tuple[int, int], dict]:
    """The new own totals after adding ``delta`` and the record that carries them (only this node's entries)."""
    p, n = own
    if delta >= 0:
        p += delta
    else:
        n -= delta
    return (p, n), {"p": {node: p} if p else {}, "n": {node: n} if n else {}}


def check_delta(d: Any) -> int:
    if isinstance(d, bool) or not isinstance(d, int):
        raise BadRecord(f"counter deltas must be integers, not {canonical(d)[:60]}")
    return d


# ------------------------------------------------------------------------------------------------ by kind

MERGE: dict[str, Callable[[dict | None, dict | None], dict | None]] = {
    "reg": merge_register, "set": merge_set, "ctr": merge_counter}
COVERS: dict[str, Callable[[dict | None, dict | None], bool]] = {
    "reg": covers_register, "set": covers_set, "ctr": covers_counter}


def merge(kind: str, a: dict | None, b: dict | None) -> dict | None:
    return MERGE[kind](a, b)


def covers(kind: str, a: dict | None, b: dict | None) -> bool:
    """True if record ``a`` already contains everything ``b`` does (merging ``b`` into ``a`` changes nothing)."""
    return COVERS[kind](a, b)


def merge_all(kind: str, recs) -> dict | None:
    out = None
    for r in recs:
        out = merge(kind, out, r)
    return out


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def validate(kind: str, rec: Any) -> dict:
    """Check a record that came from the network or the disk; return it normalised, raise BadRecord if it isn't
    one. Replicas must never merge a malformed record: a bad shape would poison every later merge."""
    if kind not in KINDS:
        raise BadRecord(f"unknown kind {kind!r}")
    if not isinstance(rec, dict):
        raise BadRecord("a record must be an object")
    if kind == "reg":
        v = rec.get("v")
        if not (isinstance(v, list) and len(v) == 2 and _is_int(v[0]) and v[0] >= 0 and isinstance(v[1], str)):
            raise BadRecord("a register record needs v = [counter >= 0, node]")
        return {"v": [v[0], v[1]], "x": rec.get("x")}
    if kind == "set":
        e = rec.get("e")
        if not isinstance(e, list):
            raise BadRecord("a set record needs e = [elements]")
        return {"e": sorted_elements(check_element(x) for x in e)}
    out = {}
    for side in ("p", "n"):
        entries = rec.get(side)
        if not isinstance(entries, dict) or not all(_is_int(t) and t >= 0 for t in entries.values()):
            raise BadRecord(f"a counter record needs {side} = {{node: total >= 0}}")
        out[side] = {node: t for node, t in sorted(entries.items()) if t > 0}  # canonical: no zero totals
    return out
