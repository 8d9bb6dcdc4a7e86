"""The set checker, after Jepsen's ``set-full``: every element's fate across all reads.

Ops: ``add`` (value = element) and ``read`` (ok value = the whole set, a list). For each element added:

- *known* from the moment its add completed ``ok`` (or, for an ``info`` add, from the end of the first read that saw
  it);
- *lost* if it was known and the last read that began after it was known does not contain it;
- *stale* if some read that began after it was known missed it, but a later read has it again (a violation only for
  a linearizable set);
- *never read* if no read began after it was known (nothing to say).
Elements a read returns that were never attempted are *unexpected*. Valid iff nothing is lost or unexpected (and,
with ``linearizable=True``, nothing is stale). ``fail`` adds must never appear.
"""

from __future__ import annotations

from typing import Sequence

from splitbrain.history.ops import OK, Op, pair_ops

_MAX_LISTED = 50


def check_set(history: Sequence[Op], *, linearizable: bool = False, add_f: str = "add", read_f: str = "read",
              final_only: bool = False) -> dict:
    """Judge a set history. ``final_only`` judges just the last ok read of each node (like Jepsen's ``set``)."""
    pairs = pair_ops(history)
    adds = {}          # element -> (invoke time, completion type, completion time or None)
    reads = []         # (invoke time, completion time, frozenset, invoke index)
    for p in pairs:
        if p.invoke.f == add_f:
            adds[_h(p.invoke.value)] = (p.invoke.time, p.type, p.complete.time if p.complete else None,
                                        p.invoke.index)
        elif p.invoke.f == read_f and p.type == OK and isinstance(p.complete.value, list):
            reads.append((p.invoke.time, p.complete.time, frozenset(_h(v) for v in p.complete.value),
                          p.invoke.index))
    reads.sort()
    if final_only and reads:
        reads = reads[-1:]

    attempted = {e for e, (_, t, _, _) in adds.items() if t != "fail"}
    failed = {e for e, (_, t, _, _) in adds.items() if t == "fail"}
    seen_any = frozenset().union(*(r[2] for r in reads)) if reads else frozenset()
    unexpected = sorted(seen_any - attempted - failed, key=repr)
    resurrected_fails = sorted(seen_any & failed, key=repr)

    lost, stale, never_read, ok_elems, recovered = [], [], [], 0, []
    for e, (_, typ, done_t, idx) in adds.items():
        if typ == "fail":
            continue
        if typ == OK:
            known = done_t
        else:
            first = next((r for r in reads if e in r[2]), None)
            if first is None:
                continue  # an info add never seen: it may never have happened
            known = first[1]
            recovered.append(e)
        after = [r for r in reads if r[0] > known]
        if not after:
            never_read.append(e)
            continue
        present = [e in r[2] for r in after]
        if not present[-1]:
            lost.append({"element": e, "known_at": known, "last_absent_read": after[-1][3],
                         "last_present_read": next((r[3] for r in reversed(reads) if e in r[2]), None)})
        elif not all(present):
            stale.append({"element": e, "known_at": known,
                          "stale_reads": [r[3] for r, p in zip(after, present) if not p][:10]})
        else:
            ok_elems += 1

    valid = not lost and not unexpected and not resurrected_fails and not (linearizable and stale)
    out = {
        "valid": valid, "checker": "set", "attempted_count": len(attempted), "ok_count": ok_elems,
        "lost_count": len(lost), "unexpected_count": len(unexpected), "stale_count": len(stale),
        "never_read_count": len(never_read), "recovered_count": len(recovered), "reads": len(reads),
        "lost": lost[:_MAX_LISTED], "unexpected": unexpected[:_MAX_LISTED], "stale": stale[:_MAX_LISTED],
        "failed_but_present": resurrected_fails[:_MAX_LISTED],
    }
    if not valid:
        out["explanation"] = _explain(lost, unexpected, resurrected_fails, stale if linearizable else [])
    return out


def _explain(lost, unexpected, failed, stale) -> str:
    parts = []
    if lost:
        parts.append(f"{len(lost)} acknowledged element(s) are missing from the last reads (first: "
                     f"{lost[0]['element']!r})")
    if unexpected:
        parts.append(f"{len(unexpected)} element(s) were read that nobody added (first: {unexpected[0]!r})")
    if failed:
        parts.append(f"{len(failed)} element(s) whose add failed were read anyway (first: {failed[0]!r})")
    if stale:
        parts.append(f"{len(stale)} element(s) were missing from a read that began after they were acknowledged "
                     f"(first: {stale[0]['element']!r})")
    return "; ".join(parts) + "."


def _h(v):
    """Elements as hashable values (JSON lists become tuples)."""
    return tuple(_h(x) for x in v) if isinstance(v, list) else v
