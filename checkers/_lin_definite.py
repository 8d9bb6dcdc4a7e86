"""A lean verdict-only search for the common (sub-)history: every op completed ``ok`` or ``fail``.

Private module. Contract of :func:`definite_verdict`: given a history (one key's ops, history order, no nemesis
ops) and an unkeyed model, answer

- ``True``: some order of its ops that respects real time is legal for the model (found, never guessed);
- ``False``: no such order exists;
- ``None``: this search does not apply (an ``info`` op or an invoke that never completed, or a read-only op
  without a single expected state); the caller must run :func:`splitbrain.checkers._lin_search.search`.

It never explains a failure (no paths, no reachable states): the caller reruns the full, traced search on the
one part it explains. It checks ``budget`` every few thousand steps, like the full search, so it never hangs.

Why a second search: most kv keys and plain register histories have no unknown-outcome op, and for those the
full search's generality (antichains, classes, footprints, paths, LinOp records) is pure per-event overhead --
over half the check time of a small history. This is the same just-in-time search as the full one's
"no unknown-outcome op called" closure (see :mod:`splitbrain.checkers._lin_search`: configurations ``(state, mask)``,
reads placed as soon as they are legal, an op linearized only at its return, transitions cached per op and
state), built straight from the history in one pass, with configurations in a set and each op's data in a
small list. Leaving out the footprint pruning keeps it exact (that pruning only skips ops that commute).
"""

from __future__ import annotations

from typing import Any

from splitbrain.checkers.models import NO_EXPECT, Model

_ILLEGAL = object()
_MISS = object()
_CHECK_EVERY = 2048


def definite_verdict(history: list, model: Model, budget) -> bool | None:
    """True / False for a history whose ops all completed ok or fail; None when it has others (see module)."""
    # One pass: pair by process, drop fail ops, give up on info ops and on invokes never completed.
    open_: dict[Any, list] = {}
    recs: list[list] = []               # [f, input, output, state-changing?, dropped?, op number]
    events: list[int] = []              # op number for a call, ~op number for a return
    for op in history:
        t = op.type
        if t == "invoke":
            if op.process in open_:
                return None                 # the earlier invoke never completed: unknown outcome
            r = [op.f, op.value, None, True, False, len(recs)]
            open_[op.process] = r
            events.append(len(recs))
            recs.append(r)
            continue
        r = open_.pop(op.process, None)
        if r is None:
            continue                        # a completion without its invoke: ignored, as prepare does
        if t == "fail":
            r[4] = True                     # it never happened
        elif t == "info":
            return None
        else:
            r[2] = op.value
            events.append(~r[5])
    if open_:
        return None
    read_only = model.read_only
    read_expect = model.read_expect
    expect: list = [NO_EXPECT] * len(recs)
    for n, r in enumerate(recs):
        if r[4]:
            continue
        if read_only(r[0], r[1], r[2]):
            e = read_expect(r[0], r[1], r[2])
            if e is NO_EXPECT:
                return None                 # legal in several states: the full search handles those
            expect[n] = e
            r[3] = False
        else:
            r.append({})                    # r[6]: transition cache {state: new state or _ILLEGAL}
    return _search(recs, events, expect, model, budget)


def _search(recs, events, expect, model: Model, budget) -> bool:
    step = model.step
    configs: set = {(model.init(), 0)}
    bit_of = [0] * len(recs)
    free: list[int] = []
    next_bit = 1
    cmask = 0                           # pending state-changing ops
    rmask: dict[Any, int] = {}          # expected state -> bits of pending reads legal exactly there
    op_of: dict[int, list] = {}         # bit -> rec of the pending state-changing op holding it
    steps = 0
    for ev in events:
        if ev >= 0:
            r = recs[ev]
            if r[4]:
                continue                    # a fail op
            if free:
                b = free.pop()
            else:
                b = next_bit
                next_bit <<= 1
            bit_of[ev] = b
            if r[3]:
                cmask |= b
                op_of[b] = r
                continue
            e = expect[ev]
            rmask[e] = rmask.get(e, 0) | b
            for s, _L in configs:
                if s == e:                  # place it at once wherever it is legal (never hurts)
                    configs = {(s, L | b) if s == e else (s, L) for s, L in configs}
                    break
            continue
        n = ~ev
        r = recs[n]
        xb = bit_of[n]
        done = False
        if len(configs) == 1:
            for s0, L0 in configs:
                pass
            if L0 & xb:                     # already placed (a read placed on call)
                configs = {(s0, L0 ^ xb)}
                done = True
            elif cmask & ~L0 == xb:         # the only state-changing op not placed: try just it
                tc = r[6]
                s = tc.get(s0, _MISS)
                if s is _MISS:
                    legal, s = step(s0, r[0], r[1], r[2])
                    if not legal:
                        s = _ILLEGAL
                    tc[s0] = s
                if s is _ILLEGAL:
                    return False
                L2 = L0 | xb
                configs = {(s, (L2 | (rmask.get(s, 0) & ~L2)) ^ xb)}
                done = True
        if not done:
            # Closure: every configuration places the returning op, possibly after other pending ones.
            new: set = set()
            seen: set = set()
            nxb = ~xb
            for k0 in configs:
                s0, L0 = k0
                if L0 & xb:
                    new.add((s0, L0 & nxb))
                    continue
                if k0 in seen:
                    continue
                seen.add(k0)
                stack = [k0]
                while stack:
                    s, L = stack.pop()
                    avail = cmask & ~L
                    while avail:
                        b = avail & -avail
                        avail ^= b
                        o = op_of[b]
                        tc = o[6]
                        s2 = tc.get(s, _MISS)
                        if s2 is _MISS:
                            legal, s2 = step(s, o[0], o[1], o[2])
                            if not legal:
                                s2 = _ILLEGAL
                            tc[s] = s2
                        if s2 is _ILLEGAL:
                            continue
                        steps += 1
                        if steps >= _CHECK_EVERY:
                            steps = 0
                            budget.check()
                        L2 = L | b
                        L2 |= rmask.get(s2, 0) & ~L2
                        if L2 & xb:
                            new.add((s2, L2 & nxb))
                        else:
                            k = (s2, L2)
                            if k not in seen:
                                seen.add(k)
                                stack.append(k)
            if not new:
                return False
            configs = new
        # The op returned and every configuration placed it: free its bit.
        free.append(xb)
        if r[3]:
            cmask &= ~xb
            del op_of[xb]
        else:
            e = expect[n]
            m = rmask[e] & ~xb
            if m:
                rmask[e] = m
            else:
                del rmask[e]
        steps += 1
        if steps >= _CHECK_EVERY:
            steps = 0
            budget.check()
    return True
