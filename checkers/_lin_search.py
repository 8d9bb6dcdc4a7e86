"""The search behind splitbrain.checkers.linearizable: just-in-time linearization over memoised configurations.

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
- Unknown-outcome ops with the same f and input are interchangeable: the search counts how many of each class
  it used (always the earliest-invoked first), never which, so 30 crashed writes of 5 values are 5 choices,
  not 30 (see :func:`search`).
- An unknown-outcome op right before an overwrite (``model.overwrites``, e.g. a register write), or last, can
  be left out of any linearization, so it is only tried where a read or another non-overwriting op follows it;
  unknown-outcome overwrites that no op of the history could follow are left out by :func:`prepare`.
- Transitions are cached per (op, state), so each model step runs once.

Histories with unknown-outcome ops are searched twice when needed: first narrowly (``keep``: a few
configurations per state and pending set), which proves most valid ones linearizable in a fraction of the time;
only a failure there that may be due to the narrowing runs the full search.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from splitbrain.checkers.models import NO_EXPECT, UNKNOWN, Model, _freeze

_ILLEGAL = object()
_MISS = object()


class Interrupted(Exception):
    """The search passed its deadline or memory cap; ``cause`` says which."""

    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


@dataclass(slots=True)
class LinOp:
    """One client op as the search sees it. ``complete`` is None for ops that never completed.

    ``blind``: the model's ``overwrites`` hint (legal everywhere, leaves a state that does not depend on the one
    it met). For unknown-outcome ops, ``cls`` numbers the class of interchangeable ops (same ``f`` and input) and
    ``ibit`` is the op's fixed bit in the class's field (see :class:`Prepared`).
    """

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
    blind: bool = False
    ibit: int = 0
    cls: int = -1


@dataclass(slots=True)
class Prepared:
    """A prepared (sub-)history.

    Unknown-outcome ops that change the state own the low ``info_width`` bits of every mask: each class of
    interchangeable ones gets a field of one bit per member, in invocation order, and one zero guard bit above
    it. ``info_starts`` has the lowest bit of each field, ``info_all`` every member bit, ``info_blind`` the
    member bits of classes that overwrite.
    """

    ops: list[LinOp]
    #: (is_return, op id) in history order; info ops have only a call.
    events: list[tuple[bool, int]]
    pairs: int = 0
    info_width: int = 0
    info_starts: int = 0
    info_all: int = 0
    info_blind: int = 0
    info_classes: int = 0
    #: unknown-outcome overwrites left out because no op of the history could follow them (see prepare)
    dropped_info: int = 0


#: Above this many (state, op) legality checks, prepare stops looking for unknown-outcome writes to leave out.
_USEFUL_CHECKS = 20000


def prepare(history: list, model: Model, *, keyed: bool = False) -> Prepared:
    """Pair a key's client ops (history order) into LinOps and call/return events.

    Drops ``fail`` ops (they did not happen) and unknown-outcome ops that are read-only (they can't constrain
    anything). With ``keyed``, inputs are ``(key, value)`` for a keyed model checked whole.

    Also drops an unknown-outcome op that overwrites (``model.overwrites``) when no op of the history that does
    not overwrite is legal in the state it leaves: a linearization that uses it can do without it (see
    :func:`search`, "overwrites"), so it can never be needed.
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
    fp = model.footprint
    overwrites = model.overwrites
    read_only = model.read_only
    read_expect = model.read_expect
    # First pass: what each kept op is; (invoke pos, completion pos, f, input, output, info, ro, blind)
    recs: list[tuple] = []
    for ip in invokes:
        inv = history[ip]
        cp = comp_of.get(ip)
        if cp is None:
            info, out = True, UNKNOWN
        else:
            comp = history[cp]
            ctype = comp.type
            if ctype == "fail":
                continue
            info = ctype == "info"
            out = UNKNOWN if info else comp.value
        f = inv.f
        inp = (_freeze(inv.key), inv.value) if keyed else inv.value
        ro = bool(read_only(f, inp, out))
        if ro:
            if info:
                continue
            blind = False
        else:
            blind = bool(overwrites(f, inp, out))
        recs.append((ip, cp, f, inp, out, info, ro, blind))
    dropped = 0
    if any(r[5] and r[7] for r in recs):
        useful = _useful_overwrites(recs, model)
        kept = [r for r in recs if not (r[5] and r[7]) or useful(r[2], r[3])]
        dropped = len(recs) - len(kept)
        recs = kept
    # Classes of interchangeable unknown-outcome ops, and their fields of bits.
    classes: dict[Any, list[int]] = {}     # (f, frozen input) -> positions in recs, in invocation order
    for n, r in enumerate(recs):
        if r[5]:
            classes.setdefault((r[2], _hashable(r[3])), []).append(n)
    ibit: dict[int, tuple[int, int]] = {}  # position in recs -> (class number, bit)
    width = starts = all_ = blind_bits = 0
    for c, members in enumerate(classes.values()):
        starts |= 1 << width
        for j, n in enumerate(members):
            b = 1 << (width + j)
            ibit[n] = (c, b)
            all_ |= b
            if recs[n][7]:
                blind_bits |= b
        width += len(members) + 1          # the guard bit stops a full field's carry (see search)
    ops: list[LinOp] = []
    at: dict[int, tuple[bool, int]] = {}   # position -> (is_return, op id)
    for n, (ip, cp, f, inp, out, info, ro, blind) in enumerate(recs):
        inv = history[ip]
        oid = len(ops)
        c, b = ibit[n] if info else (-1, 0)
        ops.append(LinOp(oid, inv.index, None if cp is None else history[cp].index, inv.process, f, inp, out,
                         info, ro, read_expect(f, inp, out) if ro else NO_EXPECT,
                         None if fp is None else fp(f, inp), blind, b, c))
        at[ip] = (False, oid)
        if not info:
            at[cp] = (True, oid)
    events = [at[pos] for pos in sorted(at)]
    return Prepared(ops, events, len(invokes), width, starts, all_, blind_bits, len(classes), dropped)


def _hashable(v: Any) -> Any:
    """``_freeze`` that also looks inside tuples (a keyed model's input is ``(key, value)``)."""
    if isinstance(v, tuple):
        return tuple(_hashable(x) for x in v)
    return _freeze(v)


def _useful_overwrites(recs: list[tuple], model: Model):
    """A function (f, input) -> may an unknown-outcome overwrite with this f and input ever be followed by an
    op that does not overwrite? Answers True (keep it) when checking would cost too much."""
    step = model.step
    init = model.init()
    expects: set = set()                   # states where some read with a single legal state is legal
    others: dict = {}                      # other non-overwriting ops by (f, frozen input, frozen output)
    for _ip, _cp, f, inp, out, _info, ro, blind in recs:
        if blind:
            continue
        if ro:
            e = model.read_expect(f, inp, out)
            if e is not NO_EXPECT:
                expects.add(e)
                continue
        k = (f, _hashable(inp), out if out is UNKNOWN else _hashable(out))
        others.setdefault(k, (f, inp, out))
    budget = [_USEFUL_CHECKS]
    memo: dict = {}

    def useful(f, inp) -> bool:
        k = (f, _hashable(inp))
        got = memo.get(k)
        if got is not None:
            return got
        legal, r = step(init, f, inp, UNKNOWN)
        if not legal:                      # not the overwrite the hint promised: keep it, the search decides
            ans = True
        elif r in expects:
            ans = True
        elif budget[0] < len(others):
            ans = True
        else:
            budget[0] -= len(others)
            ans = any(step(r, g, i, o)[0] for g, i, o in others.values())
        memo[k] = ans
        return ans

    return useful


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
    #: the search ran with ``keep`` and dropped configurations on the way: the failure may not be real
    pruned: bool = False


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


def _dominated(groups: dict, s, L: int, infomask: int) -> bool:
    """Whether ``groups`` (as kept by :func:`_add_dominant`) holds one that can do all (s, L) can."""
    lst = groups.get((s, L & ~infomask))
    if lst is None:
        return False
    im = L & infomask
    for m in lst:
        if m & ~im == 0:
            return True
    return False


def search(prep: Prepared, model: Model, budget: _Budget, *, trace: bool = False,
           stop_event: int | None = None, keep: int | None = None, start: tuple | None = None) -> Failure | None:
    """Run the search; None means linearizable. With ``trace``, configurations carry their linearization path
    (a cons list ``(prev, op id, state)``) so a failure can be explained; ``stop_event`` ends a traced rerun at
    the event that failed before. ``start = (event, state, ids of pending reads, path)`` resumes the search at
``event`` from that one configuration (the pending reads placed, ``path`` its trace): exact when the search from the
start would hold exactly that configuration there (splitbrain.checkers._lin_window finds such points).

    ``keep`` makes a narrow, incomplete pass: of the configurations that differ only in how many unknown-outcome
    ops of each class they used (an antichain, none dominating another: with many crashed compare-and-sets it
    grows to hundreds, and the search with it), only the ``keep`` that used the fewest survive each return.
    Every configuration kept is still a real linearization of the prefix, so reaching the end proves the history
    linearizable; a failure after dropping some is marked ``pruned`` and proves nothing -- the caller must then
    run the full search (splitbrain.checkers.linearizable does). Valid histories almost never need a dropped one.

    Unknown-outcome ops that change the state (pending forever once called) are handled without branching on
    which of them were used, and without trying them where they can't matter:

    - Interchangeable ones (same class: f and input) are used in invocation order: once called, all members of
      a class are equally available to the end, so which of them a linearization used never matters, only how
      many. Each class's used members are a prefix of its field of bits (see :class:`Prepared`), so the next
      usable member of every class at once is ``((L & info_all) + info_starts) & called`` (a full field carries
      into its guard bit, which no op owns), and the subset test of the dominance rule compares counts.
    - Overwrites (``model.overwrites``: legal everywhere, result independent of the state met): in a
      linearization, an unknown-outcome op (an overwrite or not) that is followed by an overwrite, or by
      nothing, can be left out (the overwrite is legal anyway and leaves the same state, and unknown-outcome
      ops need not happen). Leaving such ops out, and placing reads as early as they are legal, can be repeated
      until neither changes anything, so some linearization exists, if any does, in which each unknown-outcome
      op is followed at once by an op that does not overwrite. The search only builds such ones: an
      unknown-outcome op after which no read was placed marks the node, and a marked node tries only
      non-overwriting ops next. Marked nodes are never kept as configurations (a configuration ends with the
      returning op and the reads after it), and an unmarked twin that used no more beats a marked one.
    """
    ops = prep.ops
    step = model.step
    init = model.init()
    configs: dict = {(init, 0): None}
    free_bits: list[int] = []
    next_bit = 1 << prep.info_width     # the bits below belong to unknown-outcome ops, fixed by prepare
    bit_op: dict[int, LinOp] = {}
    trans: dict[int, dict] = {}        # bit -> {state: new state or _ILLEGAL}, for the op holding the bit
    class_trans = [{} for _ in range(prep.info_classes)]   # shared by a class's members
    cmask = 0                          # pending ops that change state and complete
    infomask = prep.info_all           # bits of ops with unknown outcome (pending forever once called)
    istarts = prep.info_starts
    iblind = prep.info_blind
    called_info = 0                    # unknown-outcome ops already called
    blindmask = iblind                 # overwrites (unknown-outcome ones, and pending ones that complete)
    rmask: dict[Any, int] = {}         # expected state -> bits of pending reads legal exactly there
    greads: list[LinOp] = []           # pending read-only ops without a single expected state
    gread_bits = 0
    last_certain = 0
    steps = 0
    first_event = 0
    fpmask: dict[Any, int] = {}        # footprint -> bits of pending state-changing ops touching it
    fpinfo: dict[Any, int] = {}        # footprint -> bits of called unknown-outcome ops touching it
    global_ops = 0                     # pending state-changing ops with no footprint (may touch anything)
    use_fp = model.footprint is not None
    pruned = False                     # configurations were dropped by ``keep``: a failure may not be real

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
        nonlocal cmask, gread_bits, global_ops, blindmask
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
            blindmask &= ~xb
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

    if start is not None:
        # Resume at a point where the configuration is known: (event, state, pending reads already placed, path).
        first_event, s0, placed, p0 = start
        L0 = 0
        for oid in placed:
            lo = ops[oid]
            if not lo.read_only or lo.info:
                raise ValueError("a search can only resume with pending reads placed")
            b = next_bit
            next_bit <<= 1
            bit_op[b] = lo
            r_bit[oid] = b
            if lo.expect is not NO_EXPECT:
                rmask[lo.expect] = rmask.get(lo.expect, 0) | b
            else:
                greads.append(lo)
                gread_bits |= b
                rcache[b] = {}
            L0 |= b
        configs = {(s0, L0): p0}
        last_certain = first_event
    for ev_index in range(first_event, len(prep.events)):
        is_return, oid = prep.events[ev_index]
        if not ev_index & 1023:
            budget.check()  # the per-event work is bounded, the closures below count their own steps
        if stop_event is not None and ev_index == stop_event:
            break
        lo = ops[oid]
        if not is_return:
            # A call: the op becomes pending. Give it a bit; reads are placed at once where legal.
            if lo.info:
                # read-only ones were left out by prepare, so this one changes the state; its bit is fixed
                b = lo.ibit
                bit_op[b] = lo
                r_bit[oid] = b
                trans[b] = class_trans[lo.cls]
                called_info |= b
                if use_fp:
                    if lo.footprint is None:
                        global_ops += 1    # never released: pending to the end
                    else:
                        fpinfo[lo.footprint] = fpinfo.get(lo.footprint, 0) | b
                continue
            if free_bits:
                b = free_bits.pop()
            else:
                b = next_bit
                next_bit <<= 1
            bit_op[b] = lo
            r_bit[oid] = b
            if lo.read_only:
                if lo.expect is not NO_EXPECT:
                    e = lo.expect
                    rmask[e] = rmask.get(e, 0) | b
                    for s, _ in configs:
                        if s == e:        # some configuration can place it now: place it in all that can
                            new = {}
                            for (s, L), path in configs.items():
                                if s == e:
                                    L |= b
                                    if trace:
                                        path = (path, oid, s)
                                new.setdefault((s, L), path)
                            configs = new
                            break
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
                if lo.blind:
                    blindmask |= b
                trans[b] = {}
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
            if cmask & ~L0 == xb and not called_info:
                # Also common: lo is the only state-changing op not yet placed, so the closure below would
                # try just lo. Do that here; when it is illegal the closure below finds the failure.
                tc = trans[xb]
                r = tc.get(s0, _MISS)
                if r is _MISS:
                    legal, r = step(s0, lo.f, lo.input, lo.output)
                    if not legal:
                        r = _ILLEGAL
                    tc[s0] = r
                if r is not _ILLEGAL:
                    L2 = L0 | xb
                    add = rmask.get(r, 0) & ~L2
                    if gread_bits:
                        add |= place_reads(r, L2)
                    p2 = p0
                    if trace:
                        p2 = (p0, oid, r)
                        a = add
                        while a:
                            rb = a & -a
                            a ^= rb
                            p2 = (p2, bit_op[rb].id, r)
                    configs = {(r, (L2 | add) ^ xb): p2}
                    last_certain = ev_index + 1
                    _release(lo, xb)
                    steps += 1
                    continue
        # Only ops that may interact with lo need trying before it: others commute with it and can wait.
        cand = cmask
        icand = called_info
        if use_fp and not global_ops and lo.footprint is not None:
            cand = fpmask.get(lo.footprint, 0) | (xb & cmask)
            icand = fpinfo.get(lo.footprint, 0)
        if not icand:
            # No unknown-outcome op can be placed (the common case): the closure below without antichains. Its
            # transition step is written out again in the antichain branch (and in _lin_definite.py) on purpose: this
            # is the innermost loop, and a function call per transition tried would be its largest cost.
            new = {}
            seen: set = set()
            reach: set = set()
            nxb = ~xb
            for (s0, L0), path0 in configs.items():
                if L0 & xb:
                    k = (s0, L0 & nxb)
                    if k not in new:
                        new[k] = path0
                    continue
                k = (s0, L0)
                if k in seen:
                    continue
                seen.add(k)
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
                            a = add
                            while a:
                                rb = a & -a
                                a ^= rb
                                p2 = (p2, bit_op[rb].id, r)
                        if L2 & xb:
                            k = (r, L2 & nxb)
                            if k not in new:
                                new[k] = p2
                        else:
                            k = (r, L2)
                            if k not in seen:
                                seen.add(k)
                                stack.append((r, L2, p2))
        else:
            new: dict = {}
            # With unknown-outcome ops called, keep antichains: (state, mask without info bits) -> info masks kept.
            newgroups: dict = {}
            seen: dict = {}                # explored nodes of this closure, as antichains
            seen_nb: dict = {}             # explored marked nodes (an unknown-outcome overwrite was just applied)
            reach: set = set()             # states met while looking for a place for lo (for the explanation)
            nxb = ~xb
            nblind = ~blindmask
            for (s0, L0), path0 in configs.items():
                if L0 & xb:
                    L0 &= nxb
                    if _add_dominant(newgroups, s0, L0, infomask):
                        new[(s0, L0)] = path0
                    continue
                if not _add_dominant(seen, s0, L0, infomask):
                    continue
                stack = [(s0, L0, path0, False)]
                while stack:
                    s, L, path, marked = stack.pop()
                    reach.add(s)
                    avail = cand & ~L
                    if icand:
                        avail |= ((L & infomask) + istarts) & icand
                        if marked:
                            avail &= nblind
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
                            a = add
                            while a:
                                rb = a & -a
                                a ^= rb
                                p2 = (p2, bit_op[rb].id, r)
                        if L2 & xb:
                            L2 &= nxb
                            if _add_dominant(newgroups, r, L2, infomask):
                                new[(r, L2)] = p2
                        elif b & infomask and not add and blindmask:
                            # an unknown-outcome overwrite that no read follows: only worth it before a
                            # non-overwriting op, so the node is marked (and an unmarked twin beats it)
                            if not _dominated(seen, r, L2, infomask) and _add_dominant(seen_nb, r, L2, infomask):
                                stack.append((r, L2, p2, True))
                        elif _add_dominant(seen, r, L2, infomask):
                            stack.append((r, L2, p2, False))
        if icand and new:
            if keep is not None:
                # a cheap first pass: of configurations that differ only in how many unknown-outcome ops of
                # each class they used, keep the ``keep`` that used the fewest (see the docstring)
                for lst in newgroups.values():
                    if len(lst) > keep:
                        lst.sort(key=int.bit_count)
                        del lst[keep:]
                        pruned = True
            # keep only configurations still in the antichain (later ones may have beaten earlier ones)
            new = {k: v for k, v in new.items() if (k[1] & infomask) in newgroups.get((k[0], k[1] & ~infomask), ())}
        if not new:
            return Failure(ev_index, lo, configs, reach, last_certain, dict(bit_op), pruned)
        configs = new
        if len(configs) == 1:
            last_certain = ev_index + 1
        _release(lo, xb)
        steps += 1
        if steps >= _CHECK_EVERY:
            steps = 0
            budget.check()
    return None
