"""Pure generators, run in simulated time (splitbrain.harness.generator.simulate): no asyncio, no processes, no sleeping."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from splitbrain.harness import generator as gen
from splitbrain.harness.api import Completion, Invocation
from splitbrain.history.errors import BadInput
from splitbrain.harness.generator import GenOp, GeneratorError, simulate
from splitbrain.history.ops import NEMESIS, pair_ops, validate_history

NS = 1_000_000_000
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def invokes(h, f=None):
    return [op for op in h if op.type == "invoke" and (f is None or op.f == f)]


def completions(h):
    return [op for op in h if op.type != "invoke"]


def fn(f, **extra):
    return lambda ctx: {"f": f, **extra}


def counter_fn(f):
    """An endless stream of ``f`` with a random value drawn from ctx.rng (so determinism is exercised)."""
    return lambda ctx: {"f": f, "value": ctx.rng.randrange(1000)}


# ---------------------------------------------------------------------------------------------------------- lifting


def test_dict_is_one_op_and_function_is_endless():
    h = simulate({"f": "read"}, concurrency=2)
    assert [(o.type, o.f) for o in h] == [("invoke", "read"), ("ok", "read")]
    assert h[0].process == h[1].process and h[0].process in (0, 1, NEMESIS)
    h = simulate(gen.limit(7, fn("read")), concurrency=2, nemesis=False)
    assert len(invokes(h)) == 7


def test_list_runs_in_order_without_waiting():
    h = simulate([{"f": "a"}, {"f": "b"}, {"f": "c"}], concurrency=3, nemesis=False)
    assert [o.f for o in invokes(h)] == ["a", "b", "c"]
    # No synchronisation: all three start at time 0 on three threads.
    assert {o.time for o in invokes(h)} == {0}
    assert {o.process for o in invokes(h)} == {0, 1, 2}


def test_plain_ops_may_use_every_free_thread_the_nemesis_included():
    h = simulate([{"f": "a"}] * 3, concurrency=2)
    assert sorted(map(str, (o.process for o in invokes(h)))) == ["0", "1", NEMESIS]


def test_ops_spread_over_all_idle_client_threads():
    """Under a light load every thread is idle most of the time; ops must not pile onto the lowest-numbered ones
    (each client thread is bound to a node, so that would starve some nodes of clients)."""
    from collections import Counter
    h = simulate(gen.clients(gen.limit(600, gen.stagger(0.05, fn("read")))), concurrency=6, nemesis=False,
                 seed=3)
    counts = Counter(o.process for o in invokes(h))
    total = sum(counts.values())
    assert set(counts) == set(range(6))
    assert all(c / total > 0.08 for c in counts.values()), counts


def test_bad_ops_are_generator_errors():
    with pytest.raises(GeneratorError, match="'f'"):
        simulate({"value": 3})
    with pytest.raises(GeneratorError, match="unknown key"):
        simulate({"f": "read", "vaule": 3})
    with pytest.raises(GeneratorError, match="unknown key"):
        simulate(gen.limit(1, lambda ctx: {"f": "read", "vaule": 3}))
    with pytest.raises(GeneratorError, match="can't use"):
        simulate(iter([{"f": "read"}]))


def test_invocations_and_zero_argument_functions_lift():
    h = simulate([Invocation("write", 3, "k"), gen.limit(2, lambda: {"f": "read"})], concurrency=1, nemesis=False)
    assert [(o.f, o.value, o.key) for o in invokes(h)] == [("write", 3, "k"), ("read", None, None),
                                                           ("read", None, None)]


def test_function_returning_a_generator_runs_it_then_calls_again():
    calls = []

    def f(ctx):
        calls.append(ctx.time)
        return [{"f": "x"}, {"f": "y"}] if len(calls) < 3 else None

    h = simulate(f, concurrency=1, nemesis=False)
    assert [o.f for o in invokes(h)] == ["x", "y", "x", "y"]


def test_an_op_for_a_busy_process_is_rejected():
    class Bad(gen.Generator):
        def op(self, ctx):
            return GenOp(0, ctx.time, "read"), self

    with pytest.raises(GeneratorError, match="not a free process"):
        simulate(Bad(), concurrency=2, nemesis=False)


def test_a_generator_pending_forever_is_reported():
    class Stuck(gen.Generator):
        def op(self, ctx):
            return gen.PENDING, self

    with pytest.raises(GeneratorError, match="pending forever"):
        simulate(Stuck(), concurrency=1)


def test_context_views():
    ctx = gen.Context(5, 0b101, 0b111, 2, (0, 3, NEMESIS), random.Random(0))
    assert ctx.free_threads == frozenset({0, NEMESIS})
    assert ctx.all_threads == frozenset({0, 1, NEMESIS})
    assert ctx.some_free_process() == 0
    assert ctx.thread_of(3) == 1 and ctx.thread_of(NEMESIS) == NEMESIS
    assert ctx.process_of(1) == 3
    assert ctx.restrict(0b100).free_threads == frozenset({NEMESIS})
    assert not ctx.all_free


# ---------------------------------------------------------------------------------------------------------- counts


@FAST
@given(n=st.integers(0, 40), conc=st.integers(1, 5), seed=st.integers(0, 2**32))
def test_limit_counts(n, conc, seed):
    h = simulate(gen.limit(n, counter_fn("w")), concurrency=conc, seed=seed)
    assert len(invokes(h)) == n
    validate_history(h)


@FAST
@given(n=st.integers(0, 20), seed=st.integers(0, 1000))
def test_once_and_repeat_counts(n, seed):
    assert len(invokes(simulate(gen.once(counter_fn("w")), seed=seed))) == 1
    assert len(invokes(simulate(gen.repeat({"f": "read"}, n), seed=seed))) == n
    # repeat reuses the same state: an op as data is emitted again and again (a bare dict would be once).
    assert len(invokes(simulate(gen.limit(n, gen.repeat({"f": "read"})), seed=seed))) == n


def test_limit_of_a_shorter_generator_stops_with_it():
    assert len(invokes(simulate(gen.limit(10, [{"f": "a"}, {"f": "b"}])))) == 2


def test_cycle_restarts_a_finite_generator():
    h = simulate(gen.cycle([{"f": "a"}, {"f": "b"}], 3), concurrency=1, nemesis=False)
    assert [o.f for o in invokes(h)] == ["a", "b"] * 3
    assert invokes(simulate(gen.cycle([]), concurrency=1)) == []  # an empty cycle ends instead of spinning


# ---------------------------------------------------------------------------------------------------------- mix


@FAST
@given(k=st.integers(2, 5), seed=st.integers(0, 2**32))
def test_mix_draws_from_all(k, seed):
    n = 400
    h = simulate(gen.limit(n, gen.mix([fn(f"f{i}") for i in range(k)])), concurrency=3, seed=seed)
    counts = Counter(o.f for o in invokes(h))
    assert set(counts) == {f"f{i}" for i in range(k)}
    for i in range(k):
        # Binomial(400, 1/k): 5 standard deviations around the mean.
        mean = n / k
        sd = (n * (1 / k) * (1 - 1 / k)) ** 0.5
        assert abs(counts[f"f{i}"] - mean) < 5 * sd


def test_mix_weights_and_exhausted_members():
    h = simulate(gen.limit(2000, gen.mix([fn("a"), fn("b")], weights=[9, 1])), concurrency=2, seed=3)
    c = Counter(o.f for o in invokes(h))
    assert 0.86 < c["a"] / 2000 < 0.94
    # A finite member drops out; the mix goes on with the rest, and ends when all are done.
    h = simulate(gen.mix([[{"f": "x"}] * 3, [{"f": "y"}] * 5]), concurrency=2, seed=1)
    assert Counter(o.f for o in invokes(h)) == {"x": 3, "y": 5}
    with pytest.raises(GeneratorError):
        gen.mix([fn("a")], weights=[1, 2])


# ---------------------------------------------------------------------------------------------------------- time


@settings(max_examples=12, deadline=None)
@given(mean_ms=st.sampled_from([5, 20, 100]), dist=st.sampled_from(["uniform", "exponential"]),
       seed=st.integers(0, 2**32))
def test_stagger_rate_over_simulated_time(mean_ms, dist, seed):
    expected = 1500
    duration = expected * mean_ms / 1000
    g = gen.time_limit(duration, gen.clients(gen.stagger(mean_ms / 1000, counter_fn("w"), dist=dist)))
    # Plenty of threads, latency well under the mean gap: the stagger, not the threads, sets the pace.
    h = simulate(g, concurrency=8, seed=seed, latency=mean_ms * 1_000_000 // 4, max_ops=10 * expected)
    n = len(invokes(h))
    # Uniform gaps: sd of the count ~ sqrt(n/3); exponential (Poisson): sqrt(n). 5 sd each side.
    assert abs(n - expected) < 5 * expected ** 0.5, (n, expected)
    gaps = [b.time - a.time for a, b in zip(invokes(h), invokes(h)[1:])]
    if dist == "uniform":
        assert max(gaps) <= 2 * mean_ms * 1_000_000
    assert min(gaps) >= 0


def test_stagger_is_global_and_does_not_burst_after_a_stall():
    # One thread and 1 s latency against a 10 ms stagger: the thread, not the stagger, limits the rate; when it
    # frees up there must be no backlog of ops to catch up on.
    h = simulate(gen.time_limit(10, gen.stagger(0.01, fn("w"))), concurrency=1, nemesis=False, latency=NS)
    inv = invokes(h)
    assert 9 <= len(inv) <= 11
    assert all(b.time - a.time >= NS for a, b in zip(inv, inv[1:]))


def test_delay_spaces_ops_exactly():
    h = simulate(gen.limit(20, gen.delay(0.25, fn("w"))), concurrency=4, latency=1_000_000)
    times = [o.time for o in invokes(h)]
    assert times == [i * NS // 4 for i in range(20)]


@FAST
@given(limit_s=st.floats(0.05, 5), lat_ms=st.integers(1, 300), conc=st.integers(1, 4))
def test_time_limit_respected(limit_s, lat_ms, conc):
    h = simulate(gen.phases({"f": "setup"}, gen.time_limit(limit_s, counter_fn("w"))), concurrency=conc,
                 latency=lat_ms * 1_000_000, max_ops=100_000)
    start = max(o.time for o in h if o.f == "setup")  # the limited phase starts when setup has completed
    ws = invokes(h, "w")
    assert ws, "the limited phase ran"
    assert all(start <= o.time < start + int(limit_s * NS) for o in ws)
    # It did run until (nearly) its end: the last op started within one latency of the cutoff.
    assert ws[-1].time >= start + int(limit_s * NS) - lat_ms * 1_000_000
    validate_history(h)


def test_time_limit_wakes_at_its_cutoff_while_pending():
    # The inner generator waits on a busy thread; the phase must still end at its cutoff and let the next run.
    g = gen.phases(gen.time_limit(1, gen.clients(gen.each_thread([{"f": "slow"}, {"f": "never"}]))), {"f": "next"})
    h = simulate(g, concurrency=1, nemesis=True, latency=lambda op: 5 * NS if op.f == "slow" else 1)
    assert [o.f for o in invokes(h)] == ["slow", "next"]
    assert invokes(h, "next")[0].time == 5 * NS  # after the slow op completed (phases wait for it)


def test_sleep_in_phases():
    h = simulate(gen.phases({"f": "a"}, gen.sleep(2), {"f": "b"}), concurrency=2, latency=NS // 10)
    a_done = [o for o in h if o.f == "a" and o.type == "ok"][0]
    assert invokes(h, "b")[0].time == a_done.time + 2 * NS


def test_run_level_time_limit_in_simulation():
    h = simulate(fn("w"), concurrency=2, nemesis=False, latency=NS // 10, time_limit=1.0)
    assert len(invokes(h)) == 20
    assert max(o.time for o in invokes(h)) < NS


# ---------------------------------------------------------------------------------------------------------- threads


@FAST
@given(conc=st.integers(1, 6), k=st.integers(1, 4), lat=st.lists(st.integers(1, 50), min_size=1, max_size=6))
def test_each_thread_gives_every_thread_its_own_sequence(conc, k, lat):
    seqn = [{"f": f"s{i}"} for i in range(k)]
    h = simulate(gen.clients(gen.each_thread(seqn)), concurrency=conc,
                 latency=lambda op: lat[hash(op.process) % len(lat)] * 1_000_000)
    per = {}
    for o in invokes(h):
        per.setdefault(o.process, []).append(o.f)
    assert per == {t: [f"s{i}" for i in range(k)] for t in range(conc)}


@FAST
@given(conc=st.integers(1, 5), sizes=st.lists(st.integers(0, 6), min_size=1, max_size=4),
       lat_ms=st.lists(st.integers(1, 100), min_size=1, max_size=5), seed=st.integers(0, 1000))
def test_phases_wait_for_every_op_of_the_previous_phase(conc, sizes, lat_ms, seed):
    g = gen.phases(*[gen.limit(n, counter_fn(f"p{i}")) for i, n in enumerate(sizes)])
    rl = random.Random(seed)
    lats = {}

    def latency(op):
        return lats.setdefault((op.process, op.f, op.value), rl.choice(lat_ms) * 1_000_000)

    h = simulate(g, concurrency=conc, seed=seed, latency=latency)
    assert [len(invokes(h, f"p{i}")) for i in range(len(sizes))] == sizes
    for i in range(1, len(sizes)):
        before = [o.time for o in h if o.f < f"p{i}" and o.type != "invoke"]
        after = [o.time for o in invokes(h) if o.f >= f"p{i}"]
        if before and after:
            assert min(after) >= max(before)
            # ... and in the history order too, not only in time
            last_done = max(j for j, o in enumerate(h) if o.f < f"p{i}")
            first_inv = min(j for j, o in enumerate(h) if o.type == "invoke" and o.f >= f"p{i}")
            assert first_inv > last_done


def test_synchronize_waits_for_all_threads():
    g = gen.seq(gen.clients([{"f": "slow"}, {"f": "fast"}]), gen.synchronize({"f": "sync"}))
    h = simulate(g, concurrency=3, nemesis=False, latency=lambda op: 3 * NS if op.f == "slow" else NS)
    assert invokes(h, "sync")[0].time == 3 * NS


@FAST
@given(conc=st.integers(1, 5), seed=st.integers(0, 100))
def test_clients_and_nemesis_keep_to_their_threads(conc, seed):
    g = gen.time_limit(2, gen.clients(counter_fn("c"), gen.stagger(0.1, fn("n"))))
    h = simulate(g, concurrency=conc, seed=seed)
    assert invokes(h, "c") and invokes(h, "n")
    assert all(o.process != NEMESIS for o in invokes(h, "c"))
    assert all(o.process == NEMESIS for o in invokes(h, "n"))


def test_on_threads_by_set_and_predicate():
    h = simulate(gen.time_limit(1, gen.on_threads({1, 3}, fn("x"))), concurrency=4)
    assert {o.process for o in invokes(h)} == {1, 3}
    h = simulate(gen.time_limit(1, gen.on_threads(lambda t: t != NEMESIS and t % 2 == 0, fn("x"))), concurrency=4)
    assert {o.process for o in invokes(h)} == {0, 2}


def test_on_threads_passes_only_its_threads_events():
    seen = []

    class Spy(gen.Generator):
        def op(self, ctx):  # pending (so it stays in the ``any``) until it has seen thread 1's op
            return (None if len(seen) >= 2 else gen.PENDING), self

        def update(self, ctx, event):
            seen.append(event.process)
            return self

    g = gen.any_of(gen.on_threads({1}, Spy()), gen.clients(gen.limit(6, fn("x"))))
    simulate(g, concurrency=3, nemesis=False)
    assert seen and set(seen) == {1}


def test_any_takes_turns_on_ties_so_nothing_starves():
    g = gen.limit(100, gen.any_of(fn("a"), fn("b")))
    h = simulate(g, concurrency=1, nemesis=False, latency=0)
    c = Counter(o.f for o in invokes(h))
    assert c == {"a": 50, "b": 50}


def test_any_prefers_the_soonest_op():
    g = gen.limit(3, gen.any_of(gen.delay(1, fn("slow")), gen.delay(0.25, fn("fast"))))
    h = simulate(g, concurrency=4, nemesis=False)
    assert [o.f for o in invokes(h)] == ["slow", "fast", "fast"]  # t=0 tie, then fast at 0.25 and 0.5


def test_a_fault_due_later_does_not_hold_back_a_stagger():
    # The runner's replay shape: client ops at a rate, alongside faults given as data with absolute times.
    faults = [{"f": "start-x", "time": 5 * NS}, {"f": "stop-x", "time": 7 * NS}]
    g = gen.time_limit(10, gen.any_of(gen.clients(gen.delay(0.1, fn("w"))), gen.nemesis(faults)))
    h = simulate(g, concurrency=2, latency=1_000_000)
    ws = [o.time for o in invokes(h, "w")]
    assert ws == [i * NS // 10 for i in range(100)]  # not one client op waited for the fault
    assert [(o.f, o.time) for o in invokes(h) if o.process == NEMESIS] == [("start-x", 5 * NS), ("stop-x", 7 * NS)]


# ---------------------------------------------------------------------------------------------------------- processes


@FAST
@given(conc=st.integers(1, 5), seed=st.integers(0, 2**32), p_info=st.floats(0, 0.6))
def test_processes_retire_after_info(conc, seed, p_info):
    rq = random.Random(seed)
    outcome = {}

    def complete(op):
        key = (op.process, op.value)
        if key not in outcome:
            outcome[key] = "info" if rq.random() < p_info else "ok"
        return Completion(outcome[key], op.value)

    h = simulate(gen.limit(200, gen.clients(counter_fn("w"))), concurrency=conc, seed=seed, complete=complete)
    validate_history(h)  # includes: no process used again after its info
    for p in pair_ops(h):
        if p.type == "info":
            thread = p.invoke.process % conc
            later = [o for o in invokes(h) if o.index > p.complete.index and o.process % conc == thread]
            if later:  # the thread's next op runs as the next process id
                assert later[0].process == p.invoke.process + conc


def test_nemesis_info_does_not_change_its_process():
    h = simulate(gen.limit(3, gen.nemesis(fn("start-x"))), concurrency=1,
                 complete=lambda op: Completion("info", None, "boom"))
    assert [o.process for o in h] == [NEMESIS] * 6


# ---------------------------------------------------------------------------------------------------------- determinism


@st.composite
def generator_trees(draw, depth=0):
    """Random generator expressions over the combinators (finite: everything is capped by limit/time_limit)."""
    leaf = st.sampled_from(["fn", "dict", "list", "timed"])
    if depth >= 2 or draw(st.booleans()):
        kind = draw(leaf)
        f = f"f{draw(st.integers(0, 3))}"
        if kind == "fn":
            return gen.limit(draw(st.integers(0, 15)), counter_fn(f))
        if kind == "dict":
            return {"f": f}
        if kind == "timed":  # ops as data with absolute due times (the runner's replay of a fault schedule)
            return [{"f": f, "time": t * NS // 10} for t in sorted(draw(st.lists(st.integers(0, 30), max_size=3)))]
        return [{"f": f}] * draw(st.integers(0, 4))
    kind = draw(st.sampled_from(["mix", "any", "phases", "seq", "stagger", "time_limit", "each_thread", "clients",
                                 "nemesis", "limit", "delay"]))
    sub = lambda: draw(generator_trees(depth=depth + 1))  # noqa: E731
    if kind == "mix":
        return gen.mix([sub() for _ in range(draw(st.integers(1, 3)))])
    if kind == "any":
        return gen.any_of(*[sub() for _ in range(draw(st.integers(1, 3)))])
    if kind == "phases":
        return gen.phases(*[sub() for _ in range(draw(st.integers(1, 3)))])
    if kind == "seq":
        return gen.seq(*[sub() for _ in range(draw(st.integers(1, 3)))])
    if kind == "stagger":
        return gen.stagger(draw(st.sampled_from([0.001, 0.05])), sub(), dist=draw(st.sampled_from(["uniform",
                                                                                                  "exponential"])))
    if kind == "delay":
        return gen.delay(0.01, sub())
    if kind == "time_limit":
        return gen.time_limit(draw(st.sampled_from([0.01, 0.5])), sub())
    if kind == "each_thread":
        return gen.each_thread(gen.limit(3, sub()))
    if kind == "clients":
        return gen.clients(sub())
    if kind == "nemesis":
        return gen.nemesis(sub())
    return gen.limit(draw(st.integers(0, 10)), sub())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=generator_trees(), conc=st.integers(1, 4), seed=st.integers(0, 2**32),
       lat=st.sampled_from([0, 1_000_000, 30_000_000]))
def test_any_combination_gives_a_valid_deterministic_history(tree, conc, seed, lat):
    h1 = simulate(tree, concurrency=conc, seed=seed, latency=lat, max_ops=2000, max_time=60)
    validate_history(h1)
    # Every invoke is on a thread that was free: at most one op in flight per thread at any point.
    inflight = Counter()
    for o in h1:
        thread = o.process if o.process == NEMESIS else o.process % conc
        inflight[thread] += 1 if o.type == "invoke" else -1
        assert inflight[thread] in (0, 1)
    # The same seed gives the same history: the generators are pure and draw only from ctx.rng.
    assert simulate(tree, concurrency=conc, seed=seed, latency=lat, max_ops=2000, max_time=60) == h1


def test_different_seeds_give_different_histories():
    g = gen.limit(50, gen.mix([counter_fn("a"), counter_fn("b")]))
    assert simulate(g, seed=1) != simulate(g, seed=2)
    assert simulate(g, seed=1) == simulate(g, seed=1)


# ---------------------------------------------------------------------------------------------------------- faults


class FakeFault:
    """A fault as nemesis/ defines them: pure start/stop ops (this one also wants the start it undoes)."""

    def __init__(self, name):
        self.name = name

    def start_op(self, rng, nodes, leader=None):
        return Invocation(f"start-{self.name}", {"nodes": sorted(rng.sample(list(nodes), 1)), "leader": leader})

    def stop_op(self, rng, nodes, leader=None, started=None):
        return Invocation(f"stop-{self.name}", {"nodes": started.value["nodes"] if started else None})


class PlainFault:
    """One whose stop_op takes no ``started``."""

    def start_op(self, rng, nodes, leader=None):
        return Invocation("start-plain", None)

    def stop_op(self, rng, nodes, leader=None):
        return Invocation("stop-plain", None)


NODES = ["n1", "n2", "n3"]


def test_nemesis_cycle_schedule_round_robin():
    pk = [FakeFault("a"), FakeFault("b"), PlainFault()]
    g = gen.time_limit(10, gen.nemesis_cycle(pk, interval=2, duration=0.5, nodes=NODES, leader=lambda ctx: "n2"))
    h = simulate(g, concurrency=2, latency=1_000_000)
    inv = invokes(h)
    assert [o.f for o in inv] == ["start-a", "stop-a", "start-b", "stop-b", "start-plain", "stop-plain",
                                  "start-a", "stop-a", "start-b", "stop-b"]
    assert [o.time for o in inv] == [k * 2 * NS + d for k in range(5) for d in (0, NS // 2)]
    assert all(o.process == NEMESIS for o in inv)
    # The stop undoes exactly what its start did; the leader function reached the fault.
    for start, stop in zip(inv[::2], inv[1::2]):
        if start.f != "start-plain":
            assert stop.value["nodes"] == start.value["nodes"] and start.value["leader"] == "n2"
    validate_history(h)


def test_nemesis_cycle_random_order_uses_every_package_and_is_seeded():
    pk = [FakeFault(x) for x in "abcd"]
    g = gen.time_limit(100, gen.nemesis_cycle(pk, 1, 0.5, nodes=NODES, order="random"))
    h = simulate(g, seed=7)
    starts = [o.f for o in invokes(h) if o.f.startswith("start")]
    assert len(starts) == 100 and set(starts) == {f"start-{x}" for x in "abcd"}
    assert simulate(g, seed=7) == h


def test_nemesis_cycle_when_faults_are_slower_than_the_interval():
    # Each fault op takes 3 s against a 1 s interval: ops queue on the one nemesis thread, but a stop still
    # follows its own start and nothing overlaps.
    g = gen.time_limit(10, gen.nemesis_cycle([FakeFault("a"), FakeFault("b")], 1, 0.5, nodes=NODES))
    h = simulate(g, latency=3 * NS)
    fs = [o.f for o in invokes(h)]
    assert fs[:4] == ["start-a", "stop-a", "start-b", "stop-b"]
    assert all(fs[i].startswith("start") == (i % 2 == 0) for i in range(len(fs)))
    validate_history(h)


def test_nemesis_cycle_alongside_clients_is_not_starved():
    g = gen.time_limit(5, gen.any_of(gen.clients(counter_fn("w")),
                                     gen.nemesis_cycle([FakeFault("a")], 1, 0.5, nodes=NODES)))
    h = simulate(g, concurrency=3, latency=1_000_000)  # clients always have an op ready
    assert [o.time for o in invokes(h) if o.process == NEMESIS] == [k * NS // 2 for k in range(10)]


def test_nemesis_cycle_rejects_bad_schedules():
    with pytest.raises(BadInput):
        gen.nemesis_cycle([FakeFault("a")], 1, 2, nodes=NODES)
    with pytest.raises(BadInput):
        gen.nemesis_cycle([], 1, 0.5)
    with pytest.raises(GeneratorError):
        gen.nemesis_cycle([object()], 1, 0.5)


def test_final_phase_heals_waits_and_reads_on_every_client():
    main = gen.time_limit(3, gen.any_of(gen.clients(counter_fn("w")),
                                        gen.nemesis_cycle([FakeFault("a"), PlainFault()], 1, 0.9,
                                                          nodes=NODES)))
    g = gen.phases(main, gen.final_phase({"f": "read"}, heal=True, quiet=2))
    h = simulate(g, concurrency=4, latency=10_000_000)
    validate_history(h)
    heals = [o for o in invokes(h) if o.process == NEMESIS and o.time >= 3 * NS]
    assert [o.f for o in heals] == [gen.HEAL_ALL]  # one op: the nemesis worker heals every fault of the run
    reads = invokes(h, "read")
    assert sorted(o.process for o in reads) == [0, 1, 2, 3]
    last_heal_done = max(o.time for o in h if o.process == NEMESIS and o.type != "invoke")
    assert min(o.time for o in reads) == last_heal_done + 2 * NS


def test_nemesis_cycle_with_the_real_faults():
    from splitbrain.nemesis import FAULTS
    pk = list(FAULTS.values())
    g = gen.time_limit(20, gen.nemesis_cycle(pk, 1, 0.5, nodes=["n1", "n2", "n3", "n4", "n5"], order="random"))
    h = simulate(g, seed=5)
    validate_history(h)
    assert len(invokes(h)) == 40
