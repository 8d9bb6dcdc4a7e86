"""Generator combinators, after Jepsen's: each takes generators (or plain data, lifted) and returns an immutable
generator. Times are seconds in the signatures and nanoseconds inside. Randomness only from ``ctx.rng``.

What none of them may do: mutate state, read a clock, or emit an op for a thread that isn't free in the context it
was given.
"""

from __future__ import annotations

import bisect
import itertools
import math

from splitbrain.harness.generator.core import (EMPTY, NS, PENDING, Context, Generator, GeneratorError, Pending, Seq, _new,
                                    lift, pending_until, thread_mask)


def _ns(seconds, what: str) -> int:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        raise GeneratorError(f"{what} must be a number of seconds, got {seconds!r}") from None
    if not math.isfinite(s) or s < 0:
        raise GeneratorError(f"{what} must be a finite, non-negative number of seconds, got {seconds!r}")
    return int(round(s * NS))


_IGNORES_UPDATES = Generator.update


def _sooner(a, b) -> bool:
    """Is result ``a`` to be preferred over ``b`` (either may be None, an op or a pending)?

    Between ops the earlier wins; a tie goes to the one asked first (deterministic, no randomness drawn). An op
    beats a pending unless the pending asks to be woken *before* the op is due: then the pending wins, because at
    that time it may offer something sooner (a stagger's next op must not wait behind a fault due later).
    Between pendings the earlier wake-up wins (``None``: only an event can wake it, so any time is earlier)."""
    if b is None:
        return a is not None
    if a is None:
        return False
    if a.is_op:
        if b.is_op:
            return a.time < b.time
        return b.until is None or a.time <= b.until
    if b.is_op:
        return a.until is not None and a.until < b.time
    return a.until is not None and (b.until is None or a.until < b.until)


# ---------------------------------------------------------------------------------------------------------- counts


class Limit(Generator):
    """At most ``n`` ops from ``gen``, then exhausted."""

    __slots__ = ("n", "gen")

    def __init__(self, n: int, gen):
        self.n = n
        self.gen = gen

    def op(self, ctx):
        if self.n <= 0:
            return None, self
        r, nxt = self.gen.op(ctx)
        if r is None:
            return None, self
        if r.is_op:
            return r, Limit(self.n - 1, nxt)
        return r, (self if nxt is self.gen else Limit(self.n, nxt))

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else Limit(self.n, nxt)


def limit(n: int, gen) -> Generator:
    """At most ``n`` ops from ``gen`` (fewer if it runs out first)."""
    if not isinstance(n, int) or n < 0:
        raise GeneratorError(f"limit needs a non-negative integer count, got {n!r}")
    return Limit(n, lift(gen))


def once(gen) -> Generator:
    """The first op of ``gen`` only."""
    return Limit(1, lift(gen))


class Repeat(Generator):
    """Emits ops from the *same* state of ``gen`` over and over (the state after each op is thrown away), ``n``
    times or forever (n < 0). ``repeat({"f": "read"})`` is an endless stream of reads."""

    __slots__ = ("n", "gen")

    def __init__(self, n: int, gen):
        self.n = n
        self.gen = gen

    def op(self, ctx):
        if self.n == 0:
            return None, self
        r, nxt = self.gen.op(ctx)
        if r is None:
            return None, self
        if r.is_op:
            return r, (self if self.n < 0 else Repeat(self.n - 1, self.gen))
        return r, self

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else Repeat(self.n, nxt)


def repeat(gen, n: int | None = None) -> Generator:
    if n is not None and (not isinstance(n, int) or n < 0):
        raise GeneratorError(f"repeat needs a non-negative integer count or None, got {n!r}")
    return Repeat(-1 if n is None else n, lift(gen))


class Cycle(Generator):
    """Runs ``gen`` to exhaustion, then starts it again from its initial state; ``n`` rounds or forever."""

    __slots__ = ("n", "orig", "cur")

    def __init__(self, n: int, orig, cur):
        self.n = n
        self.orig = orig
        self.cur = cur

    def op(self, ctx):
        n, cur = self.n, self.cur
        for fresh in (False, True):
            if n == 0:
                return None, self
            r, nxt = cur.op(ctx)
            if r is not None:
                return r, Cycle(n, self.orig, nxt)
            if fresh:
                break  # the initial state itself is exhausted: stop rather than spin
            n, cur = n - 1, self.orig
        return None, self

    def update(self, ctx, event):
        nxt = self.cur.update(ctx, event)
        return self if nxt is self.cur else Cycle(self.n, self.orig, nxt)


def cycle(gen, n: int | None = None) -> Generator:
    g = lift(gen)
    return Cycle(-1 if n is None else n, g, g)


# ---------------------------------------------------------------------------------------------------------- choice


class Mix(Generator):
    """A random sub-generator for each op (weighted if ``cum`` is given); exhausted ones drop out. The choice is
    drawn once and kept while that generator is pending, so the mix ratio holds even when one side waits. Like
    Jepsen's ``mix``, it does not pass updates on (that would cost a walk over every sub-generator per event)."""

    __slots__ = ("gens", "cum", "i")

    def __init__(self, gens: tuple, cum: tuple | None, i: int | None):
        self.gens = gens
        self.cum = cum
        self.i = i

    def op(self, ctx):
        gens, cum, i = self.gens, self.cum, self.i
        while gens:
            if i is None:
                if cum is None:
                    i = ctx.rng.randrange(len(gens))
                else:
                    i = bisect.bisect_right(cum, ctx.rng.random() * cum[-1])
                    if i >= len(gens):
                        i = len(gens) - 1
            g = gens[i]
            r, nxt = g.op(ctx)
            if r is None:
                gens = gens[:i] + gens[i + 1:]
                if cum is not None:
                    ws = [b - a for a, b in zip((0.0,) + cum, cum)]
                    del ws[i]
                    cum = tuple(itertools.accumulate(ws)) or None
                i = None
                continue
            if nxt is not g:
                gens = gens[:i] + (nxt,) + gens[i + 1:]
            if r.is_op:
                i = None
            if gens is self.gens and i == self.i:
                return r, self
            return r, Mix(gens, cum, i)
        return None, EMPTY


def mix(gens, weights=None) -> Generator:
    """A random choice among ``gens`` for each op, uniform or by ``weights``."""
    gens = tuple(lift(g) for g in gens)
    if not gens:
        return EMPTY
    cum = None
    if weights is not None:
        weights = list(weights)
        if len(weights) != len(gens) or any(not (w >= 0) for w in weights) or sum(weights) <= 0:
            raise GeneratorError(f"mix weights must be one non-negative number per generator, got {weights!r}")
        cum = tuple(itertools.accumulate(float(w) for w in weights))
    return Mix(gens, cum, None)


class Any(Generator):
    """Ops from whichever sub-generator offers the soonest one; updates go to all (Jepsen's ``any``).

    Ties (ops due at the same time) go to the generator after the one that won last, in turn, so one that always
    has an op ready (clients at full speed) cannot starve another (the nemesis). Jepsen breaks ties at random;
    turn-taking is as fair and draws no randomness."""

    __slots__ = ("gens", "start")

    def __init__(self, gens: tuple, start: int = 0):
        self.gens = gens
        self.start = start

    def op(self, ctx):
        gens = self.gens
        n = len(gens)
        start = self.start
        best = None
        best_i = -1
        best_next = None
        tie = False
        changed = None  # index -> new state, for pending generators (their clocks may have started)
        dead = None
        i = start
        for _ in range(n):
            if i >= n:
                i = 0
            g = gens[i]
            r, nxt = g.op(ctx)
            if r is None:
                dead = dead or set()
                dead.add(i)
            else:
                if not r.is_op and nxt is not g:
                    changed = changed or {}
                    changed[i] = nxt
                if _sooner(r, best):
                    best, best_i, best_next = r, i, nxt
                elif r.is_op and best.is_op and r.time == best.time:
                    tie = True
            i += 1
        if best is None:
            return None, self
        if best.is_op:
            if best_next is not gens[best_i]:
                changed = changed or {}
                changed[best_i] = best_next
            if tie:  # the winner goes to the back of the queue for the next tie
                start = best_i + 1 if best_i + 1 < n else 0
        if changed is None and dead is None:
            return best, (self if start == self.start else Any(gens, start))
        new = []
        for i, g in enumerate(gens):
            if dead is not None and i in dead:
                if i < start:
                    start -= 1
                continue
            new.append(changed.get(i, g) if changed is not None else g)
        return best, Any(tuple(new), start if start < len(new) else 0)

    def update(self, ctx, event):
        gens = self.gens
        new = None
        for i, g in enumerate(gens):
            u = g.update(ctx, event)
            if u is not g:
                if new is None:
                    new = list(gens)
                new[i] = u
        return self if new is None else Any(tuple(new), self.start)


def any_of(*gens) -> Generator:
    """Jepsen's ``any``: ops from all of ``gens``, soonest first."""
    return Any(tuple(lift(g) for g in gens))


# ---------------------------------------------------------------------------------------------------------- time


class Stagger(Generator):
    """Emits ``gen``'s ops at a mean rate across all threads: after each op the next one is due ``gap`` later,
    where the gap is uniform on [0, 2*mean) (Jepsen's stagger), exponential with that mean (a Poisson process),
    or exactly the mean (``delay``). Until an op is due this is pending with that due time, so nothing is drawn
    before its time.

    The next due time counts from the previous due time while the run keeps up (so timer wake-up jitter does not
    pile up and the long-run rate stays 1/mean); when an op goes out more than one mean late (all threads were
    busy), it counts from now instead, as Jepsen's does, so a stalled run does not burst to catch up."""

    __slots__ = ("mean", "dist", "gen", "due")

    def __init__(self, mean: int, dist: str, gen, due: int | None):
        self.mean = mean
        self.dist = dist
        self.gen = gen
        self.due = due

    def op(self, ctx):
        due = self.due
        if due is not None and ctx.time < due:
            return Pending(due), self
        r, nxt = self.gen.op(ctx)
        if r is None:
            return None, self
        if not r.is_op:
            return r, (self if nxt is self.gen else Stagger(self.mean, self.dist, nxt, due))
        t = r.time
        base = t if due is None or t - due > self.mean else due
        dist = self.dist
        if dist == "uniform":
            gap = int(ctx.rng.random() * 2 * self.mean)
        elif dist == "exponential":
            gap = int(ctx.rng.expovariate(1.0 / self.mean)) if self.mean else 0
        else:
            gap = self.mean
        return r, Stagger(self.mean, dist, nxt, base + gap)

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else Stagger(self.mean, self.dist, nxt, self.due)


def stagger(mean_interval: float, gen, dist: str = "uniform") -> Generator:
    """Ops from ``gen`` at one per ``mean_interval`` seconds on average, over all threads together.
    ``dist`` is ``"uniform"`` (gaps uniform on [0, 2*mean), Jepsen's) or ``"exponential"`` (Poisson arrivals)."""
    if dist not in ("uniform", "exponential"):
        raise GeneratorError(f"stagger distribution must be 'uniform' or 'exponential', got {dist!r}")
    return Stagger(_ns(mean_interval, "stagger interval"), dist, lift(gen), None)


def delay(interval: float, gen) -> Generator:
    """Ops from ``gen`` exactly ``interval`` seconds apart (catching up if it falls behind, like Jepsen's)."""
    return Stagger(_ns(interval, "delay interval"), "fixed", lift(gen), None)


class TimeLimit(Generator):
    """Ops from ``gen`` until ``dt`` ns after this generator is first asked; then exhausted. Ops due at or after
    the cutoff are not emitted. While pending it asks to be woken at the cutoff, so a phase ends on time even
    when nothing else happens."""

    __slots__ = ("dt", "gen", "cutoff")

    def __init__(self, dt: int, gen, cutoff: int | None):
        self.dt = dt
        self.gen = gen
        self.cutoff = cutoff

    def op(self, ctx):
        cutoff = self.cutoff
        if cutoff is None:
            cutoff = ctx.time + self.dt
        if ctx.time >= cutoff:
            return None, self
        r, nxt = self.gen.op(ctx)
        if r is None:
            return None, self
        if r.is_op:
            if r.time >= cutoff:
                return None, self
        else:
            r = pending_until(r.until, cutoff)
        if nxt is self.gen and cutoff == self.cutoff:
            return r, self
        return r, TimeLimit(self.dt, nxt, cutoff)

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else TimeLimit(self.dt, nxt, self.cutoff)


def time_limit(seconds: float, gen) -> Generator:
    """Ops from ``gen`` for ``seconds`` from when it is first asked (in ``phases``: from when its phase starts)."""
    return TimeLimit(_ns(seconds, "time limit"), lift(gen), None)


class Sleep(Generator):
    """Emits nothing for ``dt`` ns from when first asked, then is exhausted (use in ``phases`` to wait)."""

    __slots__ = ("dt", "end")

    def __init__(self, dt: int, end: int | None):
        self.dt = dt
        self.end = end

    def op(self, ctx):
        end = self.end
        if end is None:
            end = ctx.time + self.dt
        if ctx.time >= end:
            return None, self
        return Pending(end), (self if end == self.end else Sleep(self.dt, end))


def sleep(seconds: float) -> Generator:
    return Sleep(_ns(seconds, "sleep"), None)


# ---------------------------------------------------------------------------------------------------------- threads


class OnThreads(Generator):
    """``gen`` sees only the threads in ``spec`` (a set of thread names, a predicate on a thread name, or
    ``"clients"``); it gets only the events of those threads. The bitmask for a given concurrency is memoised in
    the object: a cache of a pure function of (spec, C), not state."""

    __slots__ = ("spec", "gen", "_memo")

    def __init__(self, spec, gen, memo=None):
        self.spec = spec
        self.gen = gen
        self._memo = memo  # (concurrency, mask)

    def _mask(self, ctx: Context) -> int:
        memo = self._memo
        c = ctx.concurrency
        if memo is not None and memo[0] == c:
            return memo[1]
        spec = self.spec
        if spec == "clients":
            mask = (1 << c) - 1
        elif callable(spec):
            mask = 0
            for bit in range(c + 1):
                if spec(ctx.thread_name(bit)):
                    mask |= 1 << bit
        else:
            mask = thread_mask(spec, c)
        self._memo = (c, mask)
        return mask

    def op(self, ctx):
        mask = self._mask(ctx)
        threads = ctx.threads & mask
        if not threads:
            # No thread here can ever run it (say, clients() inside each_thread's copy for the nemesis): it is
            # exhausted, not pending, or whatever waits for it would wait forever.
            return None, self
        sub = _new(Context, (ctx.time, ctx.free & mask, threads, ctx.concurrency, ctx.processes, ctx.rng))
        r, nxt = self.gen.op(sub)
        return r, (self if nxt is self.gen else OnThreads(self.spec, nxt, self._memo))

    def update(self, ctx, event):
        if type(self.gen).update is _IGNORES_UPDATES:
            return self  # skip building a context for a generator that ignores events
        mask = self._mask(ctx)
        if not (mask >> ctx.bit_of_process(event.process)) & 1:
            return self
        sub = _new(Context, (ctx.time, ctx.free & mask, ctx.threads & mask, ctx.concurrency, ctx.processes, ctx.rng))
        nxt = self.gen.update(sub, event)
        return self if nxt is self.gen else OnThreads(self.spec, nxt, self._memo)


def on_threads(threads, gen) -> Generator:
    """Run ``gen`` on the given threads only: a collection of thread names or a predicate ``thread -> bool``."""
    spec = threads if callable(threads) or threads == "clients" else frozenset(threads)
    return OnThreads(spec, lift(gen))


def clients(client_gen, nemesis_gen=None) -> Generator:
    """``client_gen`` on the client threads only; with ``nemesis_gen``, that on the nemesis thread alongside."""
    g = OnThreads("clients", lift(client_gen))
    return g if nemesis_gen is None else Any((g, nemesis(nemesis_gen)))


def nemesis(nemesis_gen, client_gen=None) -> Generator:
    """``nemesis_gen`` on the nemesis thread only; with ``client_gen``, that on the client threads alongside."""
    g = OnThreads(frozenset({"nemesis"}), lift(nemesis_gen))
    return g if client_gen is None else Any((g, OnThreads("clients", lift(client_gen))))


class EachThread(Generator):
    """A separate copy of ``fresh`` for every thread in the context, each seeing only its own thread. Exhausted
    when every thread's copy is. (Jepsen's ``each-thread``; typical use: one final read per client thread.)"""

    __slots__ = ("fresh", "gens")

    def __init__(self, fresh, gens: dict):
        self.fresh = fresh
        self.gens = gens  # bit -> generator state, EMPTY once exhausted; missing = fresh

    def op(self, ctx):
        gens, fresh = self.gens, self.fresh
        best = None
        best_bit = -1
        best_next = None
        changed = None
        m = ctx.free
        conc, procs, rng, now = ctx.concurrency, ctx.processes, ctx.rng, ctx.time
        while m:
            low = m & -m
            m ^= low
            bit = low.bit_length() - 1
            g = gens.get(bit, fresh)
            if g is EMPTY:
                continue
            r, nxt = g.op(_new(Context, (now, low, low, conc, procs, rng)))
            if r is None:
                changed = changed or {}
                changed[bit] = EMPTY
                continue
            if not r.is_op and nxt is not g:
                changed = changed or {}
                changed[bit] = nxt
            if _sooner(r, best):
                best, best_bit, best_next = r, bit, nxt
                if r.is_op and r.time <= now:
                    break  # nothing can beat an op that is due now; ties go to the lowest thread
        new = gens
        if changed or best is not None and best.is_op:
            new = dict(gens)
            if changed:
                new.update(changed)
            if best is not None and best.is_op:
                new[best_bit] = best_next
        if best is None:
            # No free thread has anything. Busy threads whose copy isn't finished may still produce ops.
            busy = ctx.threads & ~ctx.free
            while busy:
                low = busy & -busy
                busy ^= low
                if new.get(low.bit_length() - 1, fresh) is not EMPTY:
                    return PENDING, (self if new is gens else EachThread(fresh, new))
            return None, self
        return best, (self if new is gens else EachThread(fresh, new))

    def update(self, ctx, event):
        bit = ctx.bit_of_process(event.process)
        if not (ctx.threads >> bit) & 1:
            return self
        g = self.gens.get(bit, self.fresh)
        if g is EMPTY:
            return self
        low = 1 << bit
        nxt = g.update(Context(ctx.time, ctx.free & low, low, ctx.concurrency, ctx.processes, ctx.rng), event)
        if nxt is g:
            return self
        new = dict(self.gens)
        new[bit] = nxt
        return EachThread(self.fresh, new)


def each_thread(gen) -> Generator:
    return EachThread(lift(gen), {})


class Synchronize(Generator):
    """Waits until every thread in the context is free (all earlier ops completed), then becomes ``gen``."""

    __slots__ = ("gen",)

    def __init__(self, gen):
        self.gen = gen

    def op(self, ctx):
        if ctx.free == ctx.threads:
            return self.gen.op(ctx)
        return PENDING, self

    def update(self, ctx, event):
        nxt = self.gen.update(ctx, event)
        return self if nxt is self.gen else Synchronize(nxt)


def synchronize(gen) -> Generator:
    return Synchronize(lift(gen))


def phases(*gens) -> Generator:
    """Each generator in turn, each starting only when the previous one is exhausted *and* every op it started
    has completed (Jepsen's ``phases``)."""
    return Seq(tuple(Synchronize(lift(g)) for g in gens))


def seq(*gens) -> Generator:
    """Each generator in turn, without waiting for completions between them."""
    return Seq(tuple(gens))
