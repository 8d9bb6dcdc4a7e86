"""The search behind checkers.linearizable: just-in-time linearization over memoised configurations.

Private module. Contract of :func:`search`: given one (sub-)history prepared by :func:`prepare` and a model, say
whether some order of its ops that respects real time is legal for the model; never answer "valid" without
having found such an order for every completion; stop with :class:`Interrupted` when the deadline or memory
cap passes (checked every few thousand steps, so it never hangs).

How it works (Wing & Gong's search with Lowe's memoisation, in the breadth-first "just-in-time" form): walk the
history's calls and returns in order, keeping the set of *configurations* that can explain the prefix so far. A
configuration is ``(state, L)``: the model state and, as an int bitmask, which of the currently pending ops are
already linearized. An op is linearized only when forced to be: at the return of op X every configuration must
place X, possibly after other pending ops; the ones that can't are dropped; if none is left, no linearization
exists and X is the op that could not be placed. Completed ops leave the bitmask (their bits are reused), so
masks stay as small as the concurrency, and the configuration set only remembers what still matters.

Pruning that needs no branching:

- ``fail`` ops never happened and are left out; an ``info`` op whose effect can't change the state (a read with
  an unknown result) constrains nothing and is left out too.
- A read-only op is placed the moment it is legal (placing it can never hurt: it changes nothing), so reads never
  branch; a read that is legal in exactly one state is found with one dict lookup (``model.read_expect``).
- Ops with an unknown outcome stay pending forever and may be used at most once. A configuration that has used
  a subset of the unknown ops another one has used, with the same state and the same other bits, can do all the
  other can do: the larger one is dropped (dominance), which keeps crashed writes from doubling the search.
- Transitions are cached per (op, state), so each model step runs once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from checkers.models import NO_EXPECT, UNKNOWN, Model, _freeze

_ILLEGAL = object()
_MISS = object()


class Interrupted(Exception):
    """The search passed its deadline or memory cap; ``cause`` says which."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


@dataclass(slots=True)
class LinOp:
    """One client op as the search sees it. ``complete`` is None for ops that never completed."""

    id: int
    invoke: int
    complete: int | None
    process: Any
    f: str
    input: Any
    output: Any
    info: bool
    read_only: bool
    expect: Any = NO_EXPECT
    footprint: Any = None


@dataclass(slots=True)
class Prepared:
    ops: list[LinOp]
    #: (is_return, op id) in history order; info ops have only a call.
    events: list[tuple[bool, int]]
    pairs: int = 0


def prepare(history: list, model: Model, *, keyed: bool = False) -> Prepared:
    """Pair a key's client ops (history order) into LinOps and call/return events.

    Drops ``fail`` ops (they did not happen) and unknown-outcome ops that are read-only (they can't constrain
    anything). With ``keyed``, inputs are ``(key, value)`` for a keyed model checked whole.
    """
    # Pair by position in ``history``: indices are only reported, never trusted to be unique here.
    open_: dict[Any, int] = {}
    comp_of: dict[int, int] = {}       # invoke position -> completion position
    invokes: list[int] = []
    for pos, op in enumerate(history):
        if op.type == "invoke":
            open_[op.process] = pos
            invokes.append(pos)
        else:
            ip = open_.pop(op.process, None)
            if ip is not None:
                comp_of[ip] = pos
    ops: list[LinOp] = []
    at: dict[int, tuple[bool, int]] = {}   # position -> (is_return, op id)
    fp = model.footprint
    for ip in invokes:
        inv = history[ip]
        cp = comp_of.get(ip)
        comp = None if cp is None else history[cp]
        ctype = "info" if comp is None else comp.type
        if ctype == "fail":
            continue
        info = ctype == "info"
        inp = (_freeze(inv.key), inv.value) if keyed else inv.value
        out = UNKNOWN if info else comp.value
        ro = bool(model.read_only(inv.f, inp, out))
        if info and ro:
            continue
        lo = LinOp(len(ops), inv.index, None if comp is None else comp.index, inv.process, inv.f, inp, out, info,
                   ro, model.read_expect(inv.f, inp, out) if ro else NO_EXPECT)
        if fp is not None:
            lo.footprint = fp(inv.f, inp)
        ops.append(lo)
        at[ip] = (False, lo.id)
        if not info:
            at[cp] = (True, lo.id)
    events = [at[pos] for pos in sorted(at)]
    return Prepared(ops, events, len(invokes))


@dataclass
class Failure:
    """Where the search got stuck: the return event of ``op`` (a LinOp) could not be passed."""

    event: int
    op: LinOp
    #: configurations alive just before that return: {(state, mask): path or None}
    configs: dict
    #: states the model could reach while looking for a place for the op
    reachable: set = field(default_factory=set)
    #: event index of the last point where exactly one configuration was alive (the state was certain)
    last_certain_event: int = 0
    bit_op: dict = field(default_factory=dict)


class _Budget:
    """Deadline and memory checks, done every ``every`` steps so they cost nothing in the inner loop."""

    __slots__ = ("deadline", "mem_limit_pages", "steps")

    def __init__(self, deadline: float | None, memory_limit_mb: int | None):
        self.deadline = deadline
        self.mem_limit_pages = None
        if memory_limit_mb is not None:
            base = _rss_pages()
            if base is not None:
                self.mem_limit_pages = base + memory_limit_mb * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")
        self.steps = 0

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise Interrupted("time limit reached")
        if self.mem_limit_pages is not None:
            rss = _rss_pages()
            if rss is not None and rss > self.mem_limit_pages:
                raise Interrupted("memory limit reached")


def _rss_pages() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


_CHECK_EVERY = 2048


def _add_dominant(groups: dict, s, L: int, infomask: int) -> bool:
    """Record (s, L) unless a kept one used a subset of its unknown-outcome ops (and agrees on the rest): that
    one can do everything this one can. Drops the kept ones this one beats. True if (s, L) was kept."""
    g = (s, L & ~infomask)
    im = L & infomask
    lst = groups.get(g)
    if lst is None:
        groups[g] = [im]
        return True
    for m in lst:
        if m & ~im == 0:
            return False
    lst[:] = [m for m in lst if im & ~m != 0]
    lst.append(im)
    return True


def search(prep: Prepared, model: Model, budget: _Budget, *, trace: bool = False,
           stop_event: int | None = None) -> Failure | None:
    """Run the search; None means linearizable. With ``trace``, configurations carry their linearization path
    (a cons list ``(prev, op id, state)``) so a failure can be explained; ``stop_event`` ends a traced rerun at
    the event that failed before.
    """
    ops = prep.ops
    step = model.step
    init = model.init()
    configs: dict = {(init, 0): None}
    free_bits: list[int] = []
    next_bit = 1
    bit_op: dict[int, LinOp] = {}
    trans: dict[int, dict] = {}        # bit -> {state: new state or _ILLEGAL}, for the op holding the bit
    cmask = 0                          # pending ops that change state
    infomask = 0                       # bits of ops with unknown outcome (pending forever)
    rmask: dict[Any, int] = {}         # expected state -> bits of pending reads legal exactly there
    greads: list[LinOp] = []           # pending read-only ops without a single expected state
    gread_bits = 0
    last_certain = 0
    steps = 0
    fpmask: dict[Any, int] = {}        # footprint -> bits of pending state-changing ops touching it
    global_ops = 0                     # pending state-changing ops with no footprint (may touch anything)
    use_fp = model.footprint is not None

    def place_reads(s, L):
        """Place every pending read that is legal in state ``s`` (never hurts, so no branching)."""
        add = rmask.get(s, 0) & ~L
        if gread_bits & ~L:
            for r in greads:
                rb = r_bit[r.id]
                if not L & rb:
                    rc = rcache[rb]
                    ok = rc.get(s)
                    if ok is None:
                        ok = rc[s] = bool(step(s, r.f, r.input, r.output)[0])
                    if ok:
                        add |= rb
        return add

    r_bit: dict[int, int] = {}
    rcache: dict[int, dict] = {}       # bit -> {state: legal?} for pending reads without an expected state

    def _release(lo, xb):
        """The op returned and every configuration placed it: forget it and free its bit."""
        nonlocal cmask, gread_bits, global_ops
        del bit_op[xb]
        free_bits.append(xb)
        if lo.read_only:
            if lo.expect is not NO_EXPECT:
                m = rmask[lo.expect] & ~xb
                if m:
                    rmask[lo.expect] = m
                else:
                    del rmask[lo.expect]
            else:
                greads.remove(lo)
                gread_bits &= ~xb
                del rcache[xb]
        else:
            cmask &= ~xb
            del trans[xb]
            if use_fp:
                if lo.footprint is None:
                    global_ops -= 1
                else:
                    m = fpmask[lo.footprint] & ~xb
                    if m:
                        fpmask[lo.footprint] = m
                    else:
                        del fpmask[lo.footprint]

    for ev_index, (is_return, oid) in enumerate(prep.events):
        if not ev_index & 1023:
            budget.check()  # the per-event work is bounded, the closures below count their own steps
        if stop_event is not None and ev_index == stop_event:
            break
        lo = ops[oid]
        if not is_return:
            # A call: the op becomes pending. Give it a bit; reads are placed at once where legal.
            if free_bits:
                b = free_bits.pop()
            else:
                b = next_bit
                next_bit <<= 1
            bit_op[b] = lo
            r_bit[oid] = b
            if lo.read_only:
                if lo.expect is not NO_EXPECT:
                    rmask[lo.expect] = rmask.get(lo.expect, 0) | b
                    if any(s == lo.expect for s, _ in configs):
                        new = {}
                        for (s, L), path in configs.items():
                            if s == lo.expect:
                                L |= b
                                if trace:
                                    path = (path, oid, s)
                            new.setdefault((s, L), path)
                        configs = new
                else:
                    greads.append(lo)
                    gread_bits |= b
                    rcache[b] = {}
                    new = {}
                    for (s, L), path in configs.items():
                        if step(s, lo.f, lo.input, lo.output)[0]:
                            L |= b
                            if trace:
                                path = (path, oid, s)
                        new.setdefault((s, L), path)
                    configs = new
            else:
                cmask |= b
                trans[b] = {}
                if lo.info:
                    infomask |= b
                if use_fp:
                    if lo.footprint is None:
                        global_ops += 1
                    else:
                        fpmask[lo.footprint] = fpmask.get(lo.footprint, 0) | b
            continue

        # A return of op lo: every configuration must place it now.
        xb = r_bit[oid]
        if len(configs) == 1:
            # Fast path (most returns): the one configuration already placed the op, e.g. a read placed on call.
            (s0, L0), p0 = next(iter(configs.items()))
            if L0 & xb:
                configs = {(s0, L0 ^ xb): p0}
                last_certain = ev_index + 1
                _release(lo, xb)
                continue
        # Only ops that may interact with lo need trying before it: others commute with it and can wait.
        cand = cmask
        if use_fp and not global_ops and lo.footprint is not None:
            cand = fpmask.get(lo.footprint, 0) | (xb & cmask)
        new: dict = {}
        # With unknown-outcome ops pending, keep antichains: (state, mask without info bits) -> info masks kept.
        newgroups: dict | None = {} if infomask else None
        seen: dict = {}                # explored nodes of this closure (antichains too when infomask)
        reach: set = set()             # states met while looking for a place for lo (for the explanation)
        nxb = ~xb
        for (s0, L0), path0 in configs.items():
            if L0 & xb:
                L0 &= nxb
                if newgroups is None:
                    if (s0, L0) not in new:
                        new[(s0, L0)] = path0
                elif _add_dominant(newgroups, s0, L0, infomask):
                    new[(s0, L0)] = path0
                continue
            if newgroups is None:
                if (s0, L0) in seen:
                    continue
                seen[(s0, L0)] = True
            elif not _add_dominant(seen, s0, L0, infomask):
                continue
            stack = [(s0, L0, path0)]
            while stack:
                s, L, path = stack.pop()
                reach.add(s)
                avail = cand & ~L
                while avail:
                    b = avail & -avail
                    avail ^= b
                    tc = trans[b]
                    r = tc.get(s, _MISS)
                    if r is _MISS:
                        o = bit_op[b]
                        legal, r = step(s, o.f, o.input, o.output)
                        if not legal:
                            r = _ILLEGAL
                        tc[s] = r
                    if r is _ILLEGAL:
                        continue
                    steps += 1
                    if steps >= _CHECK_EVERY:
                        steps = 0
                        budget.check()
                    L2 = L | b
                    add = rmask.get(r, 0) & ~L2
                    if gread_bits:
                        add |= place_reads(r, L2)
                    L2 |= add
                    p2 = path
                    if trace:
                        p2 = (path, bit_op[b].id, r)
                        while add:
                            rb = add & -add
                            add ^= rb
                            p2 = (p2, bit_op[rb].id, r)
                    if L2 & xb:
                        L2 &= nxb
                        if newgroups is None:
                            if (r, L2) not in new:
                                new[(r, L2)] = p2
                        elif _add_dominant(newgroups, r, L2, infomask):
                            new[(r, L2)] = p2
                    elif newgroups is None:
                        if (r, L2) not in seen:
                            seen[(r, L2)] = True
                            stack.append((r, L2, p2))
                    elif _add_dominant(seen, r, L2, infomask):
                        stack.append((r, L2, p2))
        if infomask and new:
            # keep only configurations still in the antichain (later ones may have beaten earlier ones)
            new = {k: v for k, v in new.items() if (k[1] & infomask) in newgroups.get((k[0], k[1] & ~infomask), ())}
        if not new:
            return Failure(ev_index, lo, configs, reach, last_certain, dict(bit_op))
        configs = new
        if len(configs) == 1:
            last_certain = ev_index + 1
        _release(lo, xb)
        steps += 1
        if steps >= _CHECK_EVERY:
            steps = 0
            budget.check()
    return None
