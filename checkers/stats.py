"""Op statistics: how many ops of each f ended ok / fail / info. Never judges correctness, except that a run in which
no client op succeeded can't be called valid (it says nothing): that gives ``unknown``."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from splitbrain.history.ops import OK, Op, pair_ops
from splitbrain.history.verdict import UNKNOWN


def check_stats(history: Sequence[Op]) -> dict:
    by_f: dict[str, Counter] = {}
    for p in pair_ops(history):
        by_f.setdefault(p.invoke.f, Counter())[p.type] += 1
    total_ok = sum(c[OK] for c in by_f.values())
    out = {"valid": True if total_ok else UNKNOWN, "checker": "stats",
           "by_f": {f: {"ok": c["ok"], "fail": c["fail"], "info": c["info"]} for f, c in sorted(by_f.items())},
           "ops": sum(sum(c.values()) for c in by_f.values())}
    if not total_ok:
        out["cause"] = "no client operation succeeded, so the history shows nothing about consistency"
    return out
