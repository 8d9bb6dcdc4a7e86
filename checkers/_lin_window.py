"""Fast evidence for a failing part: the traced search run only on a window that provably holds the failure.

Private module. Contract of :func:`windowed_failure`: for one part known not to be linearizable, return the
:class:`~splitbrain.checkers._lin_search.Failure` the full traced search (``search(prep, model, budget,
trace=True)``) would return -- same failing event and op, same configurations alive before it (same states and
pending sets), same states reachable, same last certain event -- or None when the shortcut does not apply (the
caller then runs the full traced search). Raises Interrupted past the budget, like the searches it runs.

Why: the traced search walks the whole history in Python and can take a minute on a long busy key, while the
verdict searches (native or depth-first, with their pruning) take a second. Here:

1. *Certain points* are found by a scan of the events: the return of an op W, either an overwrite
   (``model.overwrites``) or a read legal in one state only (``model.read_expect``), such that no other
   state-changing op was pending at any moment from W's call to its return, when every other op still pending
   then is a read legal in the state W leaves (or needs). Every linearization of the history up to that return
   places all state-changing ops completed earlier before W and none after it, and places those reads (at once,
   as the search does), so the search holds exactly one configuration there: that state, those reads placed.
2. The history cut at a certain point (those reads' returns moved to the cut) is linearizable exactly when the
   search gets past that point, and this is monotone in the cut; a galloping search then a bisection with the
   verdict search (fast) finds the last certain point the search passes: the failure lies after it.
3. A linearization of that prefix (depth-first search, replayed with the model for its states) is the path of
   the one configuration; the traced search resumes there (``search(start=...)``) and runs to the failure.

What may differ from the full search: only *which* of several equally long linearizations of the prefix a
configuration carries (the full search keeps the first order it met; the prefix here comes from the depth-first
search, and bits are numbered differently in the window). The ops placed, their number and the states of the
configurations are the same.
"""

from __future__ import annotations

from typing import Any

from splitbrain.checkers._lin_dfs import dfs_verdict
from splitbrain.checkers._lin_fast import fast_verdict, native_available
from splitbrain.checkers._lin_search import Failure, Prepared, search
from splitbrain.checkers.models import NO_EXPECT, Model

#: Below this many events the full traced search is fast anyway.
MIN_EVENTS = 2000


def certain_points(prep: Prepared, model: Model) -> list[tuple[int, Any, list[int]]]:
    """(event index of the return, state, ids of the pending reads placed) of each certain point (module doc)."""
    ops = prep.ops
    init = model.init()
    step = model.step
    pending: dict[int, Any] = {}        # op id -> LinOp
    changing: set[int] = set()          # pending state-changing op ids
    alone: dict[int, bool] = {}         # pending overwrite id -> no other state-changing op pending with it yet
    out = []
    for e, (is_ret, oid) in enumerate(prep.events):
        lo = ops[oid]
        if not is_ret:
            pending[oid] = lo
            if not lo.read_only:
                alone.clear()           # a state-changing op overlaps every candidate pending
                if lo.blind and not changing:
                    alone[oid] = True
                changing.add(oid)
            elif lo.expect is not NO_EXPECT and not changing:
                alone[oid] = True
            continue
        del pending[oid]
        changing.discard(oid)
        if not alone.pop(oid, False):
            continue
        if lo.read_only:
            w = lo.expect
        else:
            legal, w = step(init, lo.f, lo.input, lo.output)
            if not legal:
                continue
        placed = []
        for p in pending.values():
            if not p.read_only or p.info:
                break
            if p.expect is not NO_EXPECT:
                if p.expect != w:
                    break
            elif not step(w, p.f, p.input, p.output)[0]:
                break
            placed.append(p.id)
        else:
            out.append((e, w, placed))
    return out


def windowed_failure(history: list, prep: Prepared, model: Model, budget, *, min_events: int = MIN_EVENTS
                     ) -> Failure | None:
    """The full traced search's failure for ``history`` (one part, known to fail), found on a window (module
    doc); None when the shortcut does not apply (unknown-outcome ops, fewer than ``min_events`` events, indices
    not unique, a failure before the first certain point)."""
    if prep.info_width or prep.dropped_info or len(prep.events) < min_events:
        return None
    if any(op.type == "info" for op in history) or len({op.index for op in history}) != len(history):
        return None
    points = certain_points(prep, model)
    if not points:
        return None
    pos_of = {op.index: n for n, op in enumerate(history)}
    ops = prep.ops

    def prefix(point) -> list:
        """The history cut at ``point``'s return, the placed reads' returns moved to the cut."""
        e, _w, placed = point
        cut = pos_of[ops[prep.events[e][1]].complete]
        late = {pos_of[ops[i].complete] for i in placed}
        keep_inv = {pos_of[ops[i].invoke] for i in placed}
        out = []
        open_: dict[Any, int] = {}
        for n in range(cut + 1):
            op = history[n]
            if op.type == "invoke":
                open_[op.process] = len(out)
                out.append(op)
            else:
                open_.pop(op.process, None)
                out.append(op)
        # invokes whose op completes after the cut: the placed reads complete at the cut, others (fail) go
        drop = {i for p, i in open_.items() if pos_of[out[i].index] not in keep_inv}
        out = [op for i, op in enumerate(out) if i not in drop]
        out.extend(history[n] for n in sorted(late))
        return out

    def passes(point) -> bool:
        h = prefix(point)
        v = None
        if not native_available():
            v = dfs_verdict(h, model, budget)   # the pure path's fastest, as for the verdict (linearizable.py)
        if v is None:
            v = fast_verdict(h, model, budget)
        if v is None:
            v = dfs_verdict(h, model, budget)
        if v is None:
            raise _NotApplicable
        return v

    try:
        # points[lo] passes (-1: the start), points[hi] fails (len: the end). Galloping from the start first, so
        # the prefixes judged are at most about twice as long as the one that fails: an early failure costs
        # little, and the verdict on the whole part is known already (it fails).
        lo, hi, k = -1, len(points), 0
        while k < hi:
            if passes(points[k]):
                lo, k = k, 2 * k + 1
            else:
                hi = k
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if passes(points[mid]):
                lo = mid
            else:
                hi = mid
    except _NotApplicable:
        return None
    if lo < 0:
        return None                    # fails before the first certain point: the full search is short
    e, w, placed = points[lo]
    h = prefix(points[lo])
    order: list[int] = []
    if dfs_verdict(h, model, budget, order_out=order) is not True:
        return None
    invokes = [op for op in h if op.type == "invoke"]
    oid_of = {op.invoke: op.id for op in ops}
    path = None
    s = model.init()
    for n in order:
        op = invokes[n]
        oid = oid_of.get(op.index)
        if oid is None:
            return None
        lo_ = ops[oid]
        legal, s = model.step(s, lo_.f, lo_.input, lo_.output)
        if not legal:
            return None                # cannot happen: the order is a linearization; stay safe
        path = (path, oid, s)
    if s != w:
        return None
    return search(prep, model, budget, trace=True, start=(e + 1, w, placed, path))


class _NotApplicable(Exception):
    """A prefix the verdict searches do not judge (cannot happen for complete prefixes): use the full search."""
