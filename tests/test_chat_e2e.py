"""End to end against chat: real namespaces, nodes and faults; each variant judged by the broadcast checker under
the claim that tells it apart. Short runs; bench/bench_seeds.py --preset chat measures found rates."""

import pytest

from splitbrain.checkers.broadcast import check_broadcast
from splitbrain.history.ops import read_history
from splitbrain.harness.run.runner import run_test
from splitbrain.harness.systems.chat import CLAIMS
from splitbrain.harness.run.spec import TestSpec
from tests._e2e import first_run_that_finds

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def _spec(variant, nemesis, seed, **options):
    """A short run judged by the claim the variant makes (splitbrain.harness.systems.chat.CLAIMS)."""
    return TestSpec(system="chat", workload="chat", variant=variant, nodes=3, time_limit=6, rate=60,
                    nemesis=nemesis, nemesis_interval=2, nemesis_duration=1.5, recovery_time=1.5, op_timeout=1.0,
                    seed=seed, options={"claim": CLAIMS[variant], **options})


def _b(out):
    return out.results["results"]["broadcast"]


@pytest.mark.timeout(90)
def test_total_order_is_valid_while_its_sequencer_is_killed_and_partitioned(tmp_path, isolated_state):
    out = run_test(_spec("total-order", ("partition", "kill"), 1, kill_targets=["leader"]),
                   store_root=tmp_path / "store", progress=False)
    b = _b(out)
    assert out.results["valid"] is True, b["anomalies"][:3]
    assert all(p["holds"] for p in b["properties"].values())  # a sequencer is causal too
    assert len(b["delivered"]) == 3 and min(b["delivered"].values()) > 20
    history = read_history(out.run_dir / "history.jsonl")
    kills = [op for op in history if op.f == "start-kill" and op.type == "ok"]
    assert kills and all(op.value["killed"] + op.value["already-down"] == ["n1"] for op in kills), kills  # n1 sequences


@pytest.mark.timeout(90)
def test_causal_holds_causal_order_and_is_flagged_for_total_order(tmp_path, isolated_state):
    out = run_test(_spec("causal", ("partition", "kill"), 1), store_root=tmp_path / "store",
                   progress=False)
    assert out.results["valid"] is True, _b(out)["anomalies"][:3]
    total = check_broadcast(read_history(out.run_dir / "history.jsonl"), claim="total")
    assert total["valid"] is False and set(total["anomaly_counts"]) == {"total"}, total["anomaly_counts"]
    a = total["anomalies"][0]
    assert len(a["sequences"]) == 2 and len(a["highlight"]) == 2


@pytest.mark.timeout(200)
def test_fifo_only_is_found_by_the_causal_checker(tmp_path, isolated_state):
    out, tried = first_run_that_finds(tmp_path, lambda s: _spec("fifo-only", ("partition",), s),
                                      [1, 2, 3], lambda o: _b(o)["properties"]["causal"]["violations"] > 0)
    b = _b(out)
    assert b["valid"] is False and set(b["anomaly_counts"]) == {"causal"}, (tried, b["anomaly_counts"])
    assert b["properties"]["fifo"]["holds"] is True  # per sender it is in order: only causality breaks


@pytest.mark.timeout(200)
def test_no_retransmit_loses_messages_across_a_partition(tmp_path, isolated_state):
    out, tried = first_run_that_finds(tmp_path, lambda s: _spec("no-retransmit", ("partition",), s),
                                      [1, 2, 3], lambda o: _b(o)["properties"]["agreement"]["violations"] > 0)
    b = _b(out)
    assert b["valid"] is False and "agreement" in b["anomaly_counts"], tried
    assert "never did" in next(a for a in b["anomalies"] if a["type"] == "agreement")["explanation"]


@pytest.mark.timeout(90)
def test_gossip_agrees_after_the_heal(tmp_path, isolated_state):
    out = run_test(_spec("gossip", ("partition", "kill"), 1), store_root=tmp_path / "store",
                   progress=False)
    b = _b(out)
    assert out.results["valid"] is True, b["anomalies"][:3]
    assert len(set(b["delivered"].values())) == 1  # every node delivered the same number
