"""End to end against work-queue: real namespaces, real nodes, real faults; each buggy variant caught by the queue
checker with the violation its bug makes. Short runs; bench/bench_seeds.py --preset queue measures found rates."""

import pytest

from splitbrain.harness.run.runner import run_test
from splitbrain.harness.run.spec import TestSpec
from tests._e2e import first_run_that_finds

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def _spec(variant, nemesis, seed, **kw):
    base = dict(system="work-queue", workload="queue", variant=variant, nodes=3, time_limit=6, rate=60,
                nemesis=nemesis, nemesis_interval=2, nemesis_duration=1.5, recovery_time=1.5, op_timeout=1.0,
                seed=seed)
    base.update(kw)
    return TestSpec(**base)


@pytest.mark.timeout(90)
def test_correct_is_valid_under_partition_kill_and_pause(tmp_path, isolated_state):
    out = run_test(_spec("correct", ("partition", "kill", "pause"), 1), store_root=tmp_path / "store",
                   progress=False)
    q = out.results["results"]["queue"]
    assert out.results["valid"] is True, q
    assert q["acknowledged"] > 50 and q["empty_drains"] >= 1 and q["duplicated_count"] == 0
    assert (out.run_dir / "report.html").exists()


def _found(kind):
    return lambda out: out.results["results"]["queue"].get(f"{kind}_count", 0) > 0


@pytest.mark.timeout(200)
@pytest.mark.parametrize("variant,nemesis,kind", [
    ("ack-before-durable", ("kill",), "lost"),
    ("unreplicated", ("kill",), "lost"),
    ("no-dedup", ("partition",), "duplicated"),
])
def test_buggy_variant_is_caught(tmp_path, isolated_state, variant, nemesis, kind):
    out, tried = first_run_that_finds(tmp_path, lambda s: _spec(variant, nemesis, s), [1, 2, 3], _found(kind))
    q = out.results["results"]["queue"]
    assert q["valid"] is False and q[f"{kind}_count"] > 0, (tried, {k: v for k, v in q.items() if k != "anomalies"})
    a = next(a for a in q["anomalies"] if a["type"] == kind)
    assert a["explanation"] and a["ops"]
