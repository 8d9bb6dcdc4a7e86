"""The counter checker, after Jepsen's: every read must lie within what the adds around it allow.

Ops: ``add`` (value = delta, any sign) and ``read`` (ok value = the counter). For a read that was invoked at time
``s`` and completed at ``e``: an add that completed ``ok`` before ``s`` has certainly taken effect; an add invoked
before ``e`` that did not ``fail`` may have. So the read must lie in
``[certain + sum of possible negative deltas, certain + sum of possible positive deltas]``.
"""

from __future__ import annotations

from typing import Sequence

from splitbrain.history.ops import FAIL, OK, Op, pair_ops


def check_counter(history: Sequence[Op], *, add_f: str = "add", read_f: str = "read", initial: int = 0) -> dict:
    pairs = pair_ops(history)
    adds = [(p.invoke.time, p.complete.time if p.complete else None, p.type, p.invoke.value, p.invoke.index)
            for p in pairs if p.invoke.f == add_f and p.type != FAIL and isinstance(p.invoke.value, (int, float))]
    reads = [(p.invoke.time, p.complete.time, p.complete.value, p.invoke.index)
             for p in pairs if p.invoke.f == read_f and p.type == OK]
    errors = []
    for s, e, value, idx in reads:
        certain = possible_pos = possible_neg = 0
        for a_s, a_e, a_t, delta, _ in adds:
            if a_t == OK and a_e is not None and a_e < s:
                certain += delta
            elif a_s < e:
                if delta >= 0:
                    possible_pos += delta
                else:
                    possible_neg += delta
        lo, hi = initial + certain + possible_neg, initial + certain + possible_pos
        if not isinstance(value, (int, float)) or not lo <= value <= hi:
            errors.append({"read": idx, "value": value, "lower": lo, "upper": hi})
    out = {"valid": not errors, "checker": "counter", "reads": len(reads), "adds": len(adds),
           "errors": errors[:50], "error_count": len(errors)}
    if errors:
        first = errors[0]
        out["explanation"] = (f"{len(errors)} read(s) out of bounds; the first (op {first['read']}) read "
                              f"{first['value']!r} but the adds around it allow only {first['lower']} to "
                              f"{first['upper']}.")
    return out
