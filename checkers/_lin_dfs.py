"""A depth-first verdict search (Wing & Gong with Lowe's cache, as Porcupine does it), for proving parts valid fast.

Private module. Contract of :func:`dfs_verdict`: for one part whose ops all completed ``ok`` or ``fail`` (the same
parts as :func:`splitbrain.checkers._lin_plain.plain_verdict`), answer ``True`` (a linearization was found), ``False`` (the
search space was exhausted: none exists), or ``None`` when it does not apply (unknown-outcome ops) or gave up after
``max_steps`` steps. ``budget.check()`` is called every few thousand steps (it raises when the deadline passes).

Why beside the breadth-first search: the breadth-first ("just-in-time") search keeps *every* configuration that can
explain the prefix, which is what a non-linearizable part needs (all of them must be ruled out) but is wasted work
on a linearizable part with many concurrent state-changing ops (say a dozen overlapping appends: thousands of
orders kept where one would do). Going depth-first, always trying the earliest pending call first, follows the
order the ops most likely took effect in and usually reaches the end with almost no backtracking. The two are
run one after the other by :mod:`splitbrain.checkers.linearizable` (this one capped), so each history gets the better one.

How: the history is a doubly linked list of call and return entries. From the head, the first call whose op the
model accepts in the current state is *lifted* (its call and return leave the list) unless the pair (set of
linearized ops, new state) was seen before; meeting a return means the op it closes can't be placed before it:
undo the last lift and try the next call after it. The list empty is a linearization; undoing with nothing left
to undo proves there is none.
"""

from __future__ import annotations

_CHECK_EVERY = 2048


def dfs_verdict(history: list, model, budget, max_steps: int | None = None) -> bool | None:
    """True / False / None for one part (see the module doc)."""
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
        return True
    # Linked list over entry positions 0..n_ent-1, with a sentinel head at n_ent.
    head = n_ent
    nxt = list(range(1, n_ent + 1)) + [0]
    prv = [head] + list(range(0, n_ent))
    nxt[n_ent - 1] = -1
    nxt[head] = 0
    prv[0] = head
    ret_pos: dict[int, int] = {}
    for pos, e in enumerate(entries):
        if e < 0:
            ret_pos[~e] = pos
    step = model.step
    trans: list[dict] = [{} for _ in calls]   # per op: {state: (legal, new state)}
    state = model.init()
    linearized = 0
    seen: set = set()
    stack: list[tuple[int, object]] = []      # (call position lifted, state before it)
    pos = nxt[head]
    steps = 0
    limit = max_steps
    while nxt[head] != -1:
        steps += 1
        if steps & (_CHECK_EVERY - 1) == 0:
            budget.check()
            if limit is not None and steps > limit:
                return None
        if pos == -1:  # cannot happen: a return always comes after its call in the list
            return None
        e = entries[pos]
        if e >= 0:
            c = calls[e]
            tc = trans[e]
            got = tc.get(state)
            if got is None:
                got = tc[state] = step(state, c[0], c[1], c[2])
            if got[0]:
                bits = linearized | (1 << e)
                k = (bits, got[1])
                if k not in seen:
                    seen.add(k)
                    stack.append((pos, state))
                    state = got[1]
                    linearized = bits
                    # lift the call and its return out of the list
                    rp = ret_pos[e]
                    for p in (pos, rp):
                        a, b = prv[p], nxt[p]
                        nxt[a] = b
                        if b != -1:
                            prv[b] = a
                    pos = nxt[head]
                    continue
            pos = nxt[pos]
            continue
        # A return whose op is not linearized yet: undo the last lift.
        if not stack:
            return False
        cpos, state = stack.pop()
        e = entries[cpos]
        linearized &= ~(1 << e)
        rp = ret_pos[e]
        for p in (rp, cpos):  # relink in reverse order of unlinking
            a, b = prv[p], nxt[p]
            nxt[a] = p
            if b != -1:
                prv[b] = p
        pos = nxt[cpos]
    return True
