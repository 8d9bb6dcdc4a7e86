"""The interpreter against fake workers: process retirement, one completion per invoke, valid histories, worker
exceptions, deadlines, time limits, cancellation. Real asyncio and a real history file; no processes."""

from __future__ import annotations

import asyncio
import random

import pytest

from splitbrain.harness import generator as gen
from splitbrain.harness.api import Completion, Invocation
from splitbrain.history.ops import NEMESIS, HistoryWriter, pair_ops, read_history
from splitbrain.harness.run.interpreter import Interpreter, run

pytestmark = pytest.mark.timeout(30)


class FakeWorker:
    """Sleeps ``latency`` s, then completes as ``outcome(process, op)`` says (default ok, echoing the value)."""

    def __init__(self, latency=0.0, outcome=None, node=None):
        self.latency = latency
        self.outcome = outcome or (lambda p, op: Completion("ok", op.value))
        self.node = node
        self.calls = []

    async def invoke(self, process, op):
        assert isinstance(op, Invocation)
        self.calls.append((process, op.f))
        if self.latency:
            await asyncio.sleep(self.latency)
        return self.outcome(process, op)


def workers_for(conc, nemesis=True, **kw):
    w = {t: FakeWorker(node=f"n{t + 1}", **kw) for t in range(conc)}
    if nemesis:
        w[NEMESIS] = FakeWorker(**kw)
    return w


def go(generator, tmp_path, conc=3, workers=None, **kw):
    path = tmp_path / "history.jsonl"
    workers = workers if workers is not None else workers_for(conc)
    events = []
    with HistoryWriter(path) as h:
        stats = asyncio.run(run(generator, workers=workers, history=h, rng=random.Random(1), concurrency=conc,
                                on_event=events.append, **kw))
    ops = read_history(path)  # validates the structural rules, or raises
    return stats, ops, events


def test_every_invoke_gets_exactly_one_completion(tmp_path):
    g = gen.phases(gen.limit(60, gen.clients(lambda ctx: {"f": "w", "value": ctx.rng.randrange(9), "key": "k"})),
                   gen.final_phase({"f": "read"}))
    stats, ops, events = go(g, tmp_path, workers=workers_for(3, latency=0.001))
    pairs = pair_ops(ops)
    assert len(pairs) == 63 and all(p.complete is not None for p in pairs)
    assert all(p.complete.f == p.invoke.f and p.complete.key == p.invoke.key for p in pairs)
    assert (stats.invoked, stats.ok, stats.fail, stats.info, stats.abandoned) == (63, 63, 0, 0, 0)
    assert [e.index for e in events] == list(range(len(ops)))  # on_event saw every record, in order
    assert {o.node for o in ops if o.f == "read"} == {"n1", "n2", "n3"}  # the worker's node is recorded


def test_processes_retire_after_info_and_are_never_reused(tmp_path):
    conc = 3
    rq = random.Random(4)
    outcome = lambda p, op: Completion(rq.choice(["ok", "fail", "info"]), None)  # noqa: E731
    g = gen.limit(150, gen.clients(lambda ctx: {"f": "w", "value": 1}))
    stats, ops, _ = go(g, tmp_path, conc=conc, workers=workers_for(conc, outcome=outcome))
    infos = [o for o in ops if o.type == "info"]
    assert infos and stats.info == len(infos)
    invoked = [o.process for o in ops if o.type == "invoke"]
    for o in infos:
        later = [o2 for o2 in ops[o.index + 1:] if o2.type == "invoke" and o2.process % conc == o.process % conc]
        assert o.process not in [x.process for x in later]
        if later:
            assert later[0].process == o.process + conc  # the thread continues as process + C
    # Every thread's processes are t, t+C, t+2C, ... in order
    for t in range(conc):
        seen = [p for p in invoked if p % conc == t]
        distinct = list(dict.fromkeys(seen))
        assert distinct == [t + k * conc for k in range(len(distinct))]


def test_a_worker_exception_becomes_info_and_the_run_goes_on(tmp_path):
    def outcome(p, op):
        if op.value == 3:
            raise RuntimeError("client bug")
        return Completion("ok", op.value)

    class BrokenNemesis:
        async def invoke(self, process, op):
            raise OSError("iptables missing")

    w = workers_for(2, outcome=outcome)
    w[NEMESIS] = BrokenNemesis()
    g = gen.any_of(gen.clients(gen.limit(8, [{"f": "w", "value": i} for i in range(8)])),
                   gen.nemesis(gen.limit(2, lambda ctx: {"f": "start-partition"})))
    stats, ops, _ = go(g, tmp_path, conc=2, workers=w)
    bad = [o for o in ops if o.type == "info" and o.process != NEMESIS]
    assert len(bad) == 1 and "RuntimeError: client bug" in bad[0].error
    nem = [o for o in ops if o.process == NEMESIS and o.type != "invoke"]
    assert [o.type for o in nem] == ["info", "info"] and all("OSError" in o.error for o in nem)
    assert stats.invoked == 10 and stats.completed == 10


def test_a_bad_completion_object_becomes_info(tmp_path):
    w = workers_for(1, nemesis=False, outcome=lambda p, op: "ok")
    stats, ops, _ = go(gen.limit(2, gen.clients(lambda ctx: {"f": "w"})), tmp_path, conc=1, workers=w)
    assert [o.type for o in ops] == ["invoke", "info", "invoke", "info"]
    assert ops[2].process == 1  # retired after the info


def test_op_deadline_is_enforced_only_when_the_op_has_one(tmp_path):
    w = workers_for(3, nemesis=False, latency=0.3)
    g = gen.clients([{"f": "write", "value": 1, "timeout": 0.05}, {"f": "read", "timeout": 0.05},
                     {"f": "write", "value": 2}])
    stats, ops, _ = go(g, tmp_path, conc=3, workers=w)
    done = {(o.f, o.process): o for o in ops if o.type != "invoke"}
    assert done[("write", 0)].type == "info" and "timeout" in done[("write", 0)].error  # may have happened
    assert done[("read", 1)].type == "fail" and "timeout" in done[("read", 1)].error  # a read changed nothing
    assert done[("write", 2)].type == "ok"  # no deadline: the worker's own 0.3 s were waited for
    assert done[("write", 2)].time - done[("write", 0)].time > 0.2e9


def test_run_time_limit_stops_new_ops(tmp_path):
    w = workers_for(2, nemesis=False, latency=0.01)
    stats, ops, _ = go(gen.clients(lambda ctx: {"f": "w"}), tmp_path, conc=2, workers=w, time_limit=0.3)
    inv = [o.time for o in ops if o.type == "invoke"]
    # The first op goes out when the run starts; the last is decided before the limit and recorded right after.
    assert max(inv) < inv[0] + 0.3e9 + 50e6
    assert 20 <= stats.invoked <= 80 and stats.abandoned == 0
    assert 0.28 < stats.elapsed < 2


def test_stagger_paces_real_time(tmp_path):
    g = gen.time_limit(1.0, gen.clients(gen.stagger(0.02, lambda ctx: {"f": "w"})))
    stats, ops, _ = go(g, tmp_path, conc=4, workers=workers_for(4, latency=0.001))
    # 50 expected (uniform gaps: sd ~ 4); a loaded machine wakes late and only ever lowers the count
    assert 20 <= stats.invoked <= 60


def test_nemesis_cycle_runs_on_the_nemesis_worker(tmp_path):
    class Pkg:
        def start_op(self, rng, nodes, leader=None):
            return Invocation("start-x", {"nodes": [rng.choice(nodes)]})

        def stop_op(self, rng, nodes, leader=None):
            return Invocation("stop-x", None)

    w = workers_for(2, latency=0.001)
    g = gen.time_limit(0.55, gen.any_of(gen.clients(gen.stagger(0.01, lambda ctx: {"f": "r"})),
                                        gen.nemesis_cycle([Pkg()], 0.2, 0.1, nodes=["n1", "n2"])))
    stats, ops, _ = go(g, tmp_path, conc=2, workers=w)
    assert [f for _, f in w[NEMESIS].calls] == ["start-x", "stop-x"] * 3
    assert all(f == "r" for t in (0, 1) for _, f in w[t].calls)


def test_drain_timeout_abandons_a_hung_op(tmp_path):
    class Hang:
        async def invoke(self, process, op):
            await asyncio.Event().wait()

    w = {0: Hang(), 1: FakeWorker()}
    stats, ops, _ = go(gen.clients([{"f": "a"}, {"f": "b"}]), tmp_path, conc=2, workers=w, drain_timeout=0.2)
    assert stats.abandoned == 1 and stats.invoked == 2
    assert [(o.process, o.type) for o in ops] == [(0, "invoke"), (1, "invoke"), (1, "ok")]


def test_cancellation_leaves_a_valid_history(tmp_path):
    path = tmp_path / "history.jsonl"
    w = workers_for(4, latency=0.02)
    w[0] = FakeWorker(latency=3600)  # certainly in flight when the run is cancelled

    async def main():
        with HistoryWriter(path) as h:
            interp = Interpreter(gen.clients(lambda ctx: {"f": "w"}), workers=w, history=h, rng=random.Random(1),
                                 concurrency=4)
            task = asyncio.create_task(interp.run())
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return interp.stats, [t for t in asyncio.all_tasks() if t.get_name().startswith("splitbrain-thread")]

    stats, leftover = asyncio.run(main())
    assert leftover == []  # every thread task is gone
    ops = read_history(path)
    assert stats.cancelled and stats.invoked > 4
    pairs = pair_ops(ops)
    open_ = [p for p in pairs if p.complete is None]
    assert len(open_) == stats.abandoned and 1 <= stats.abandoned <= 4  # in-flight invokes stay, as info
    assert 0 in [p.invoke.process for p in open_]


def test_a_generator_bug_propagates_and_leaves_a_valid_history(tmp_path):
    def f(ctx):
        if ctx.time > 50_000_000:
            raise ValueError("workload bug")
        return {"f": "w"}

    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as h:
        with pytest.raises(ValueError, match="workload bug"):
            asyncio.run(run(gen.clients(f), workers=workers_for(2, latency=0.01), history=h, rng=random.Random(1),
                            concurrency=2))
    assert read_history(path)


def test_workers_must_match_concurrency(tmp_path):
    from splitbrain.history.errors import SplitbrainError
    with HistoryWriter(tmp_path / "h.jsonl") as h:
        with pytest.raises(SplitbrainError, match="workers"):
            Interpreter({"f": "x"}, workers={0: FakeWorker(), 2: FakeWorker()}, history=h, rng=random.Random(),
                        concurrency=2)


def test_simulator_and_interpreter_agree_on_order(tmp_path):
    """The same generator and seed give the same sequence of ops in simulation and for real, when the latencies
    keep the order unambiguous (one thread)."""
    g = gen.phases(gen.limit(20, gen.mix([lambda ctx: {"f": "a", "value": ctx.rng.randrange(100)},
                                          lambda ctx: {"f": "b"}])),
                   gen.final_phase({"f": "read"}))
    sim = gen.simulate(g, concurrency=1, nemesis=False, seed=1)
    _, ops, _ = go(g, tmp_path, conc=1, workers={0: FakeWorker(latency=0.001)})
    strip = lambda h: [(o.process, o.type, o.f, o.value) for o in h]  # noqa: E731
    assert strip(ops) == strip(sim)
