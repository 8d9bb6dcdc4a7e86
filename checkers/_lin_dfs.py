"""A depth-first verdict search (Wing & Gong with Lowe's cache, as Porcupine does it), for proving parts valid fast.

Private module. Contract of :func:`dfs_verdict`: for one part whose ops all completed ``ok`` or ``fail`` (the same
parts as :func:`splitbrain.checkers._lin_definite.definite_verdict`), answer ``True`` (a linearization was found),
``False`` (the search space was exhausted: none exists), or ``None`` when it does not apply (unknown-outcome ops) or
gave up after ``max_steps`` steps. ``budget.check()`` is called every few thousand steps (it raises when the deadline passes).

Why beside the breadth-first search: the breadth-first ("just-in-time") search keeps *every* configuration that can
explain the prefix, which is what a non-linearizable part needs (all of them must be ruled out) but is wasted work
on a linearizable part with many concurrent state-changing ops (say a dozen overlapping appends: thousands of
orders kept where one would do). Going depth-first, always trying the earliest pending call first, follows the
order the ops most likely took effect in and usually reaches the end with almost no backtracking.

How: the history is a doubly linked list of call and return entries. From the head, the first call whose op the
model accepts in the current state is *lifted* (its call and return leave the list) unless the pair (set of
linearized ops, new state) was seen before; meeting a return means the op it closes can't be placed before it:
undo the last lift and try the next call after it. The list empty is a linearization; undoing with nothing left
to undo proves there is none.

The shortcuts of the native core (checkers/_lin_native.c, ``run_dfs``), all exact:

- the cache key of the linearized set is the last call lifted and the calls before it not lifted (about the
  concurrency, whatever the history's length);
- a read legal in the current state that may be placed now (no return of an op not linearized comes before its
  call) is placed at once and never backtracked over;
- with the model's ``extends``/``grows`` hints (see splitbrain.checkers.models): a node is dead when a read not
  placed yet can no longer be placed (its value does not extend the state, and no op that may still take effect
  before it returns leaves a state its value extends); and when no read still to come can observe the state (no
  reads of other kinds, no compare-and-set: ops whose legality the hints can't tell), it is replaced by one junk
  state, so the orders of appends a later put wiped out before anyone saw them are one node.
"""

from __future__ import annotations

from bisect import bisect_left

from splitbrain.checkers.models import NO_EXPECT

_CHECK_EVERY = 2048
#: Entries of the list looked at when judging a node (the reads called before the first pending return, and the
#: first read after it).
_EXAMINE_MAX = 256
_NEVER = 1 << 62                 # "some observer never returns": never junk
_ANY = object()                  # an op that may leave any state
_NONE = object()                 # an op that leaves nothing new (a read, an op that only extends the state)


class _Junk:
    """The state unobservable states are merged into (see the module doc)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "JUNK"


_JUNK = _Junk()


def _extends_fn(kind):
    if kind == "equal":
        return lambda a, b: a == b
    if kind == "prefix":
        def ext(a, b) -> bool:
            if a == b:
                return True
            if a.__class__ is str and b.__class__ is str:
                return b.startswith(a)
            if a.__class__ is tuple and b.__class__ is tuple:
                return len(b) >= len(a) and b[:len(a)] == a
            return False
        return ext
    return None


def dfs_verdict(history: list, model, budget, max_steps: int | None = None, order_out: list | None = None
                ) -> bool | None:
    """True / False / None for one part (see the module doc).

    With ``order_out`` (a list), a True answer also appends the linearization found to it: the ops, each as
    its number among the history's invokes, in the order they take effect (states may have been merged into
    the junk state on the way, so replay the order with the model to get the states)."""
    open_: dict = {}
    calls: list[list] = []    # per op: [f, input, output, dropped?]
    order: list[int] = []     # entries in history order: op number for a call, ~op number for a return
    for op in history:
        t = op.type
        if t == "invoke":
            if op.process in open_:
                return None
            r = [op.f, op.value, None, False]
            open_[op.process] = len(calls)
            order.append(len(calls))
            calls.append(r)
            continue
        n = open_.pop(op.process, None)
        if n is None:
            continue
        if t == "fail":
            calls[n][3] = True
        elif t == "info":
            return None
        else:
            calls[n][2] = op.value
            order.append(~n)
    if open_:
        return None
    entries = [e for e in order if not calls[e if e >= 0 else ~e][3]]
    n_ent = len(entries)
    if n_ent == 0:
        return True     # nothing to place: the linearization is empty
    # entries are 1..n_ent, 0 is the head of the circular list
    nxt = list(range(1, n_ent + 1)) + [0]
    prv = [n_ent] + list(range(0, n_ent))
    ret_pos: dict[int, int] = {}
    for pos, e in enumerate(entries, 1):
        if e < 0:
            ret_pos[~e] = pos
    step = model.step
    init = model.init()
    # what each op is: a read with one expected state, or what state it may leave (see the module doc)
    expect: dict[int, object] = {}
    target: dict[int, object] = {}
    ext = _extends_fn(model.extends)
    observable_only = ext is not None   # every op that depends on the state is a read with one expected state
    for e in entries:
        if e < 0:
            continue
        f, i, o, _d = calls[e]
        if model.read_only(f, i, o):
            x = model.read_expect(f, i, o)
            if x is NO_EXPECT:
                observable_only = False
            else:
                expect[e] = x
            target[e] = _NONE
        elif ext is not None and model.grows(f, i, o):
            target[e] = _NONE
        elif model.overwrites(f, i, o):
            legal, s = step(init, f, i, o)
            target[e] = s if legal else _ANY
            if not legal:
                observable_only = False     # not the overwrite the hint promised: the junk state can't stand in
        else:
            target[e] = _ANY
            observable_only = False
    # per read: the ops with a target called while it is pending (they may reset the state before it)
    resets_in: dict[int, list[int]] = {}
    if ext is not None:
        pending_reads: list[int] = []
        for e in entries:
            if e < 0:
                if ~e in expect:
                    pending_reads.remove(~e)
                continue
            if e in expect:
                pending_reads.append(e)
                resets_in[e] = []
            elif target[e] is not _NONE:
                for r in pending_reads:
                    resets_in[r].append(e)
    # observers, for the junk state: the last return position of a read of each value (and sorted str values)
    junk = observable_only and ext is not None
    eq_last: dict = {}
    str_vals: list = []
    str_last: list = []
    if junk:
        for e, x in expect.items():
            p = ret_pos[e] - 1     # event index of its return
            if eq_last.get(x, -1) < p:
                eq_last[x] = p
        if model.extends == "prefix":
            pairs = sorted((x, ret_pos[e] - 1) for e, x in expect.items() if x.__class__ is str)
            str_vals = [x for x, _p in pairs]
            str_last = [p for _x, p in pairs]
    obs_cache: dict = {}
    prefix = model.extends == "prefix"

    def obs_last(s) -> int:
        got = obs_cache.get(s)
        if got is not None:
            return got
        if prefix:
            if s.__class__ is not str:
                r = _NEVER          # only a str takes every append (the junk state does)
            else:
                lo = bisect_left(str_vals, s)
                r = -1
                j = lo
                while j < len(str_vals) and str_vals[j].startswith(s):
                    if str_last[j] > r:
                        r = str_last[j]
                    j += 1
                    if j - lo > 64:
                        r = _NEVER      # a long block: not worth the scan
                        break
        else:
            try:
                r = eq_last.get(s, -1)
            except TypeError:
                r = _NEVER
        obs_cache[s] = r
        return r

    def canon(s, head: int):
        if junk and s is not _JUNK and obs_last(s) < (head - 1 if head else n_ent):
            return _JUNK
        return s

    def reaches(k, x) -> bool:
        t = target[k]
        if t is _ANY:
            return True
        if t is _NONE:
            return False
        return ext(t, x)

    trans: dict[int, dict] = {}   # per op: {state: (legal, new state)}
    lin: set = set()              # linearized ops

    def examine(s):
        """A read to place at once (its entry), -1 when the node is dead, 0 when neither."""
        seen_ret = False
        dyn: list[int] = []
        p = nxt[0]
        n = 0
        while p != 0 and n < _EXAMINE_MAX:
            n += 1
            e = entries[p - 1]
            if e < 0:
                seen_ret = True
            elif e in expect:
                x = expect[e]
                if not seen_ret and x == s:
                    return p
                if ext is not None:
                    ok = s is not _JUNK and ext(s, x)
                    if not ok:
                        ok = any(reaches(k, x) for k in dyn) or any(
                            k not in lin and reaches(k, x) for k in resets_in[e])
                    if not ok:
                        return -1
                if seen_ret:
                    break
            elif target[e] is not _NONE:
                dyn.append(e)
            p = nxt[p]
        return 0

    state = init
    seen: set = set()
    stack: list[tuple] = []       # (entry lifted, state before it, last call lifted before it, committed?)
    maxe = 0
    steps = 0
    limit = max_steps
    remaining = len(ret_pos)

    def lift(p):
        nonlocal remaining
        k = entries[p - 1]
        lin.add(k)
        for q in (p, ret_pos[k]):
            a, b = prv[q], nxt[q]
            nxt[a] = b
            prv[b] = a
        remaining -= 1

    def unlift(p):
        nonlocal remaining
        k = entries[p - 1]
        lin.discard(k)
        for q in (ret_pos[k], p):   # relink in reverse order of unlinking
            a, b = prv[q], nxt[q]
            nxt[a] = q
            prv[b] = q
        remaining += 1

    def new_node(p, s, committed: bool) -> bool:
        """Lift entry p into state s (already computed); False when the node was seen before (undone)."""
        nonlocal state, maxe
        stack.append((p, state, maxe, committed))
        lift(p)
        if p > maxe:
            maxe = p
        state = canon(s, nxt[0])
        key = [maxe]
        q = nxt[0]
        while q != 0 and q < maxe:
            if entries[q - 1] >= 0:
                key.append(q)
            q = nxt[q]
        k = (state, tuple(key))
        if k in seen:
            return False
        seen.add(k)
        return True

    def undo() -> int:
        """Undo lifts back to the last one not committed; the entry to go on from, or -1 when none is left."""
        nonlocal state, maxe
        while stack:
            p, state, maxe, committed = stack.pop()
            unlift(p)
            if not committed:
                return nxt[p]
        return -1

    def settle() -> int:
        """Judge the node reached (placing reads at once); the entry to go on from, or -1: none."""
        while remaining:
            x = examine(state)
            if x == 0:
                return nxt[0]
            if x < 0:
                return undo()
            if not new_node(x, state, True):
                return undo()
        return 0

    pos = settle()
    while remaining:
        steps += 1
        if steps & (_CHECK_EVERY - 1) == 0:
            budget.check()
            if limit is not None and steps > limit:
                return None
        if pos == -1:
            return False
        if pos == 0:
            pos = undo()    # only returns are left after here: cannot happen with every op completed
            continue
        e = entries[pos - 1]
        if e < 0:           # a return of an op not linearized: undo the last lift, try the next call after it
            pos = undo()
            continue
        if state is _JUNK:
            t = target[e]
            got = (True, t) if t is not _ANY and t is not _NONE else (
                (True, _JUNK) if ext is not None and e not in expect and t is _NONE else (False, None))
        else:
            tc = trans.get(e)
            if tc is None:
                tc = trans[e] = {}
            got = tc.get(state)
            if got is None:
                c = calls[e]
                got = tc[state] = step(state, c[0], c[1], c[2])
        if not got[0] or not new_node(pos, got[1], False):
            if got[0]:
                pos = undo()    # seen before: this lift leads nowhere
                continue
            pos = nxt[pos]
            continue
        pos = settle()
        if pos == -1 and remaining:
            return False
    if order_out is not None:
        order_out.extend(entries[p - 1] for p, *_rest in stack)
    return True
