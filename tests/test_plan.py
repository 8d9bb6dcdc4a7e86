"""harness/run/plan.py: a test's phases as one pure generator, run in simulated time (no cluster): load with faults
beside it, one heal-all after the time limit, then every client thread's final op."""

from splitbrain.harness.generator.simulate import simulate
from splitbrain.harness.generator.faults import HEAL_ALL
from splitbrain.harness.run.plan import build_plan
from splitbrain.harness.run.spec import TestSpec
from splitbrain.harness.workloads import get_workload
from splitbrain.history.ops import INVOKE, NEMESIS
from splitbrain.nemesis import FAULTS

NS = 1_000_000_000


def _invokes(history):
    return [op for op in history if op.type == INVOKE]


def test_load_then_heal_then_final_reads():
    spec = TestSpec(system="crdt-store", workload="crdt-set", time_limit=2.0, rate=50, recovery_time=0.5, seed=3)
    workload = get_workload(spec.workload)
    history = simulate(build_plan(spec, workload, {}, ["n1", "n2", "n3"]), concurrency=2, seed=3)
    ops = _invokes(history)
    heal = [op for op in ops if op.process == NEMESIS]
    assert [op.f for op in heal] == [HEAL_ALL]                   # no faults asked for: only the final heal
    clients_before = [op for op in ops if op.process != NEMESIS and op.time < heal[0].time]
    finals = [op for op in ops if op.process != NEMESIS and op.time > heal[0].time]
    assert clients_before and all(op.time <= spec.time_limit * NS for op in clients_before)
    assert sorted(op.process for op in finals) == [0, 1]          # one final op per client thread...
    assert all(op.time >= heal[0].time + spec.recovery_time * NS for op in finals)  # ...after the recovery time
    assert {op.f for op in finals} == {"final-read"}


def test_faults_start_after_a_quiet_spell_and_a_schedule_replaces_the_cycle():
    spec = TestSpec(system="quorum-kv", workload="register", nemesis=("partition",), time_limit=6.0,
                    nemesis_interval=2.0, nemesis_duration=1.0, seed=5)
    workload = get_workload(spec.workload)
    faults = {"partition": FAULTS["partition"]}
    nodes = ["n1", "n2", "n3"]
    cycle = [op for op in _invokes(simulate(build_plan(spec, workload, faults, nodes), seed=5))
             if op.process == NEMESIS and op.f != HEAL_ALL]
    assert cycle and cycle[0].time >= (spec.nemesis_interval - spec.nemesis_duration) * NS

    schedule = [{"time": 500_000_000, "f": "start-partition", "value": {"grudge": {"n1": ["n2"]}}},
                {"time": 900_000_000, "f": "stop-partition", "value": None},
                {"time": 950_000_000, "f": HEAL_ALL, "value": None}]     # the recorded heal-all is not replayed
    replayed = [op for op in _invokes(simulate(build_plan(spec, workload, faults, nodes, schedule), seed=5))
                if op.process == NEMESIS]
    assert [(op.f, op.time) for op in replayed] == [("start-partition", 500_000_000),
                                                     ("stop-partition", 900_000_000),
                                                     (HEAL_ALL, replayed[-1].time)]
    assert replayed[-1].time >= spec.time_limit * NS
