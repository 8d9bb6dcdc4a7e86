"""A generator that builds write-read-write chains across nodes on purpose, for the causal-kv workload.

Why: a store that delivers updates per sender in order but not causally (crdt-store's ``fifo-only``) is caught from
the history alone only by a chain like this one: session A (node a) writes x; session B (node b) reads x, sees A's
write, then writes y; session C (node c) reads y, sees B's write, then reads x and misses A's write. Random ops on a
few keys rarely build it: B must have *seen* x before writing y, and C must read y, then x, in the short time
before A's update reaches c. So each chain is a small state machine driven by completions, which takes as C the
node that lags behind on x (under a partition that cuts it from A but not from B: the one that cannot get x):

====  =========  ==========================================================================================
step  session    op
====  =========  ==========================================================================================
0     A          read x (what it returns is causally before A's write: a reused key then gives WriteCORead)
1     A          write x := chain id
2     B and C    read x, each again until it returns A's value (``poll_gap`` apart, ``poll_limit`` reads in all):
                 the first to see it is B; the other, which has not seen it yet, is C
3     B          write y := chain id
4     C          read y, again until it returns B's value (same bounds)
5     C          read x: a causal store must return A's write (or a later one) here
====  =========  ==========================================================================================

A, B and C are client threads on three different nodes (the runner binds thread ``t`` to node ``t % nodes``), so
each session stays on one node for the whole chain. A thread belongs to at most one chain at a time and gets no
other op until its part of the chain is done (A after step 1, B after step 3), so a chain's steps follow each other
at once (the race in step 5 is short) and a thread whose part is done serves other chains meanwhile. A chain whose
thread's process changed (a crash: ``info``), whose write failed, or that runs out of polls or of time
(``poll_time`` on one step: a partition can keep B from ever seeing x) is dropped: it just shows nothing. With
fewer than three nodes no chain can start and every fresh op is a random one.

Fresh ops (chain starts, and plain random reads and writes on the workload's ``k*`` keys) go out at the test's
rate, as ``stagger`` paces them (gaps uniform on [0, 2/rate)); chain steps follow completions without waiting.
Chain keys come from ``slots`` pairs ``x<i>``/``y<i>``; a slot is used by one live chain at a time. Every written
value is unique per key (chain ids grow; random writes use the op time), as the causal checker needs.

Pure and immutable like every generator (``splitbrain.harness.generator.core``): randomness only from ``ctx.rng``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from splitbrain.harness.generator.core import PENDING, GenOp, Generator, Pending

NS = 1_000_000_000

#: (session role, f, key role) of each step; the key role is "x" or "y".
STEPS = (("a", "read", "x"), ("a", "write", "x"), ("b", "read", "x"), ("b", "write", "y"), ("c", "read", "y"),
         ("c", "read", "x"))
_POLLED = {2, 4}   # steps that repeat until they see their chain's own write
#: Roles (0 = A, 1 = B, 2 = C) that act in each step: in step 2 both others poll x, and the first to see it is B.
_ACTIVE = {0: (0,), 1: (0,), 2: (1, 2), 3: (1,), 4: (2,), 5: (2,)}
_LAST_STEP = (1, 3, 5)   # a role's thread is the chain's until this step is done
_IDLE = -1


class Config(NamedTuple):
    mean_gap: int                 # ns between fresh ops, on average
    nodes: int                    # thread t runs on node t % nodes
    slots: int                    # chain key pairs
    chain_fraction: float         # share of fresh ops that start a chain (when three idle threads allow one)
    poll_limit: int
    poll_time: int                # ns a chain may spend on one step (a loaded machine makes every step slow)
    poll_gap: int                 # ns between a read that did not see the chain's write and the next one
    random_op: Callable[[Any], dict]   # rng -> a plain op on the k* keys


class Chain(NamedTuple):
    cid: int
    slot: int
    threads: tuple[int, int, int]   # A, B, C (B and C swap in step 2 if C sees x first)
    procs: tuple                    # their processes when the chain started
    step: int = 0
    polls: int = 0
    deadline: int = 0
    busy: tuple = (_IDLE, _IDLE, _IDLE)   # per role: the step its op in flight was made for
    not_before: tuple = (0, 0, 0)         # per role: a poll waits until then

    def keys(self) -> dict[str, str]:
        return {"x": f"x{self.slot}", "y": f"y{self.slot}"}

    def role_of(self, process) -> int | None:
        for r in range(3):
            if self.procs[r] == process and self.busy[r] != _IDLE:
                return r
        return None


def _set(t: tuple, i: int, v) -> tuple:
    return t[:i] + (v,) + t[i + 1:]


def _swap(t: tuple) -> tuple:
    return (t[0], t[2], t[1])


class CausalChains(Generator):
    """See the module docstring. ``due``: ns when the next fresh op may go out (None: at once)."""

    __slots__ = ("cfg", "due", "chains", "next_id")

    def __init__(self, cfg: Config, due: int | None = None, chains: tuple = (), next_id: int = 1):
        self.cfg, self.due, self.chains, self.next_id = cfg, due, chains, next_id

    def _with(self, **kw) -> "CausalChains":
        d = {"due": self.due, "chains": self.chains, "next_id": self.next_id, **kw}
        return CausalChains(self.cfg, d["due"], d["chains"], d["next_id"])

    # ------------------------------------------------------------------------------------------------ ops
    def op(self, ctx):
        now = ctx.time
        live = []
        step_op = None
        wake = None   # the earliest time a waiting poll may go
        for ch in self.chains:
            busy = any(b != _IDLE for b in ch.busy)
            if not busy and now > ch.deadline:
                continue  # out of time (a partition keeps B or C from seeing the write): drop it
            if any(ctx.processes[t] != p for r, (t, p) in enumerate(zip(ch.threads, ch.procs))
                   if _LAST_STEP[r] >= ch.step and ch.busy[r] == _IDLE):
                continue  # a session crashed and goes on as a new process: the chain is broken
            for r in _ACTIVE[ch.step]:
                t = ch.threads[r]
                if ch.busy[r] != _IDLE:
                    continue
                if now < ch.not_before[r]:
                    wake = ch.not_before[r] if wake is None else min(wake, ch.not_before[r])
                elif step_op is None and (ctx.free >> t) & 1:
                    _, f, key_role = STEPS[ch.step]
                    step_op = GenOp(ctx.processes[t], now, f, ch.cid if f == "write" else None, ch.keys()[key_role])
                    ch = ch._replace(busy=_set(ch.busy, r, ch.step))
            live.append(ch)
        chains = tuple(live)
        if step_op is not None:
            return step_op, self._with(chains=chains)
        due = self.due
        same = self if chains == self.chains else self._with(chains=chains)
        if due is not None and now < due:
            return Pending(due if wake is None else min(due, wake)), same
        r = self._fresh(ctx, chains)
        if r is None:
            return (PENDING if wake is None else Pending(wake)), same
        op, chains, next_id = r
        base = now if due is None or now - due > self.cfg.mean_gap else due
        gap = int(ctx.rng.random() * 2 * self.cfg.mean_gap)
        return op, self._with(due=base + gap, chains=chains, next_id=next_id)

    def _fresh(self, ctx, chains: tuple):
        """A chain start or a random op on a free thread no chain holds; None if no thread is free."""
        cfg = self.cfg
        held = {t for ch in chains for r, t in enumerate(ch.threads) if _LAST_STEP[r] >= ch.step}
        free = [t for t in range(ctx.concurrency) if (ctx.free >> t) & 1 and t not in held]
        if not free:
            return None
        if ctx.rng.random() < cfg.chain_fraction:
            picked = self._pick_chain_threads(ctx, free)
            used = {ch.slot for ch in chains}
            slot = next((s % cfg.slots for s in range(self.next_id, self.next_id + cfg.slots)
                         if s % cfg.slots not in used), None)
            if picked is not None and slot is not None:
                ch = Chain(self.next_id, slot, picked, tuple(ctx.processes[t] for t in picked),
                           deadline=ctx.time + cfg.poll_time, busy=(0, _IDLE, _IDLE))
                op = GenOp(ctx.processes[picked[0]], ctx.time, "read", None, ch.keys()["x"])
                return op, chains + (ch,), self.next_id + 1
        t = free[ctx.rng.randrange(len(free))]
        x = cfg.random_op(ctx)
        return GenOp(ctx.processes[t], ctx.time, x["f"], x.get("value"), x.get("key")), chains, self.next_id

    def _pick_chain_threads(self, ctx, free: list[int]):
        """Three free threads on three different nodes, in random roles; None if there are not three."""
        by_node: dict[int, list[int]] = {}
        for t in free:
            by_node.setdefault(t % self.cfg.nodes, []).append(t)
        if len(by_node) < 3:
            return None
        nodes = sorted(by_node)
        ctx.rng.shuffle(nodes)
        return tuple(by_node[n][ctx.rng.randrange(len(by_node[n]))] for n in nodes[:3])

    # ------------------------------------------------------------------------------------------------ events
    def update(self, ctx, event):
        if event.type == "invoke" or not self.chains:
            return self
        out = []
        changed = False
        for ch in self.chains:
            r = ch.role_of(event.process)
            if r is None:
                out.append(ch)
                continue
            changed = True
            nxt = _advance(ch, r, event, self.cfg, ctx.time)
            if nxt is not None:
                out.append(nxt)
        return self._with(chains=tuple(out)) if changed else self


def _advance(ch: Chain, r: int, event, cfg: Config, now: int) -> Chain | None:
    """The chain after role ``r``'s op in flight completed with ``event``; None when it is finished or dropped."""
    made_for = ch.busy[r]
    ch = ch._replace(busy=_set(ch.busy, r, _IDLE))
    if event.type == "info":
        return None  # the session crashed
    if made_for != ch.step:
        return ch    # C's poll of x that was in flight when B saw x first: nothing to do
    f = STEPS[ch.step][1]
    if event.type != "ok":
        if f == "write":
            return None  # it did not happen: nothing to build on (a retry would write the same value again)
        return _poll_again(ch, r, cfg, now)
    if ch.step in _POLLED and event.value != ch.cid:
        return _poll_again(ch, r, cfg, now)
    if ch.step + 1 == len(STEPS):
        return None
    if ch.step == 2 and r == 2:   # C saw x first: it is B, and the one that has not seen x yet is C
        ch = ch._replace(threads=_swap(ch.threads), procs=_swap(ch.procs), busy=_swap(ch.busy),
                         not_before=_swap(ch.not_before))
    return ch._replace(step=ch.step + 1, polls=0, deadline=now + cfg.poll_time)


def _poll_again(ch: Chain, r: int, cfg: Config, now: int) -> Chain | None:
    if ch.polls + 1 >= cfg.poll_limit:
        return None
    return ch._replace(polls=ch.polls + 1, not_before=_set(ch.not_before, r, now + cfg.poll_gap))


def chain_keys(slots: int) -> list[str]:
    return [f"{r}{i}" for i in range(slots) for r in ("x", "y")]


def causal_chains(options: dict, *, rate: float, nodes: int, random_op: Callable[[Any], dict]) -> CausalChains:
    """The generator for a test's ``options`` (``chain_slots``, ``chain_fraction``, ``chain_polls``,
    ``chain_time``, ``chain_poll_gap`` in seconds), at ``rate`` fresh ops per second over ``nodes`` nodes.

    Defaults (measured with bench/bench_seeds.py --preset causal, paired runs under the same load): 2 s per step,
    polls 5 ms apart, at most 200 polls a step, half the fresh ops start a chain. Longer steps (3 s) and slower
    polls (10 ms) completed fewer chains and found fifo-only less often: a chain stuck behind a partition is better
    dropped, freeing its threads for the next one."""
    return CausalChains(Config(
        mean_gap=int(NS / rate), nodes=nodes, slots=int(options.get("chain_slots", 32)),
        chain_fraction=float(options.get("chain_fraction", 0.5)), poll_limit=int(options.get("chain_polls", 200)),
        poll_time=int(float(options.get("chain_time", 2.0)) * NS),
        poll_gap=int(float(options.get("chain_poll_gap", 0.005)) * NS), random_op=random_op))
