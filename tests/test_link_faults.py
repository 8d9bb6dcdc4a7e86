"""Slow-network faults (delay, duplicate, reorder, rate): their pure plans, and each through the real CLI on a local
cluster, measured with the ping-pong probe; heal restores the link; cleanup leaves no rule, qdisc or process."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
from pathlib import Path

import pytest

from _cli import splitbrain
from splitbrain.harness.hosts.resources import StateStore, process_is
from splitbrain.nemesis import FAULTS
from splitbrain.nemesis.link_appliers import check_params, queue_chain, senders_to
from splitbrain.nemesis.netqueue import hold_seconds, parse_args

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------------- pure


def test_links_are_read_as_grudges_sender_side():
    assert senders_to({"n2": ["n1"], "n3": ["n1", "n2"]}, ["n1", "n2", "n3"]) == {
        "n1": ["n2", "n3"], "n2": ["n3"], "n3": []}


def test_params_are_checked():
    assert check_params({"delay_ms": 50})["delay_ms"] == 50.0
    for bad in ({"delay_ms": -1}, {"delay_ms": 6000}, {"duplicate": 1.5}, {"reorder": -0.1}):
        with pytest.raises(ValueError):
            check_params(bad)


@pytest.mark.parametrize("name", ["delay", "duplicate", "reorder", "rate"])
def test_plans_are_pure_json_data(name):
    pkg = FAULTS[name]
    nodes = ["n1", "n2", "n3"]
    a = pkg.start_op(random.Random(5), nodes)
    b = pkg.start_op(random.Random(5), nodes)
    assert a == b and json.loads(json.dumps(a.value)) == a.value
    assert a.f == f"start-{name}" and a.value["grudge"]
    assert pkg.stop_op().f == f"stop-{name}"


def test_hold_times_follow_delay_jitter_and_reorder():
    args = parse_args(["--queue", "1", "--mark", "0x1", "--delay-ms", "100", "--jitter-ms", "10"])
    holds = [hold_seconds(random.Random(i), args)[0] for i in range(200)]
    assert all(0.09 <= h <= 0.11 for h in holds) and len(set(holds)) > 100
    args = parse_args(["--queue", "1", "--mark", "0x1", "--reorder", "0.5", "--reorder-ms", "30"])
    rng = random.Random(1)
    drawn = [hold_seconds(rng, args) for _ in range(400)]
    late = [h for h, was_late in drawn if was_late]
    assert 150 < len(late) < 250 and all(h == 0.03 for h in late)
    assert all(h == 0.0 for h, was_late in drawn if not was_late)


# ------------------------------------------------------------------------------------------------------- CLI



def _netns(ns: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=10).stdout


@pytest.fixture
def cli_cluster(sb_state_dir, root_iptables_unchanged):
    """A 2-node echo cluster from `splitbrain cluster up`, torn down (and cleaned up) whatever the test did."""
    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir), "PYTHONPATH": str(ROOT)}
    up = splitbrain("cluster", "up", "--nodes", "2", env=env)
    assert up.returncode == 0, up.stderr
    run_id = StateStore(sb_state_dir).current()
    try:
        yield env, run_id
    finally:
        splitbrain("cleanup", "--run-id", run_id, env=env)
        assert not any(line.startswith(f"sb-{run_id}-")
                       for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
                       .splitlines())


def _helpers(store: StateStore, run_id: str) -> dict:
    return store.read(run_id).get("helpers") or {}


@pytest.mark.netns
@pytest.mark.timeout(150)
def test_delay_duplicate_and_rate_through_the_cli_measured_and_healed(cli_cluster, sb_state_dir):
    from splitbrain.harness.hosts.local_cluster import attach
    from splitbrain.nemesis.linkprobe import measure, throughput

    env, run_id = cli_cluster
    store = StateStore(sb_state_dir)
    cluster = attach(run_id)
    ns1 = f"sb-{run_id}-n1"
    base = statistics.median(measure(cluster, "n1", "n2", 10)["rtt_ms"])

    out = splitbrain("nemesis", "delay", "--ms", "50", env=env)
    assert out.returncode == 0, out.stderr
    assert queue_chain(run_id) in _netns(ns1, "iptables", "-S", "OUTPUT")
    helper = _helpers(store, run_id)["n1/netqueue"]
    assert process_is(helper["pid"], helper["start_time"])
    m = measure(cluster, "n1", "n2", 10)
    added = (statistics.median(m["rtt_ms"]) - base) / 2  # both directions are delayed: half the RTT each way
    assert 40.0 <= added <= 60.0, m  # within 20% of the asked 50 ms
    assert m["replies"] == m["answered"] == 10

    out = splitbrain("nemesis", "duplicate", "--probability", "0.5", "--shape", "one-way", env=env)
    assert out.returncode == 0, out.stderr
    m = measure(cluster, "n1", "n2", 100, timeout=1.0)
    assert m["answered"] == 100 and 120 <= m["replies"] <= 180, m  # about half the pings arrive twice

    heal = json.loads(splitbrain("nemesis", "heal", env=env).stdout.split(": ", 1)[1])
    assert heal["delay"]["stopped"]["n1"]["duplicated"] > 0  # the program's own count, printed as it stopped
    assert queue_chain(run_id) not in _netns(ns1, "iptables", "-S")
    assert _helpers(store, run_id) == {} and not process_is(helper["pid"], helper["start_time"])

    out = splitbrain("nemesis", "rate", "--kbit", "512", env=env)
    assert out.returncode == 0, out.stderr
    assert "htb 1:" in _netns(ns1, "tc", "qdisc", "show", "dev", "eth0")
    t = throughput(cluster, "n1", "n2", 512 * 1000 // 8 * 2)  # two seconds' worth at the cap
    assert 410 <= t["kbit_s"] <= 615, t  # within 20% of the cap

    assert splitbrain("nemesis", "heal", env=env).returncode == 0
    assert "htb" not in _netns(ns1, "tc", "qdisc", "show", "dev", "eth0")
    m = measure(cluster, "n1", "n2", 10)
    assert statistics.median(m["rtt_ms"]) < 5.0 and m["replies"] == 10
    assert throughput(cluster, "n1", "n2", 200_000)["kbit_s"] > 5000


@pytest.mark.netns
@pytest.mark.timeout(90)
def test_reorder_lets_later_packets_overtake(cli_cluster):
    from splitbrain.harness.hosts.local_cluster import attach
    from splitbrain.nemesis.linkprobe import measure

    env, run_id = cli_cluster
    out = splitbrain("nemesis", "reorder", "--probability", "0.3", "--ms", "40", "--shape", "one-way", env=env)
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout.split(": ", 1)[1])
    assert counts["reorder"] == 0.3 and counts["reorder_ms"] == 40.0
    m = measure(attach(run_id), "n1", "n2", 60, timeout=1.0)
    slow = [r for r in m["rtt_ms"] if r >= 35.0]
    assert m["answered"] == 60 and 5 <= len(slow) <= 35, m  # about 30% held back 40 ms, the rest not
    assert sum(r < 5.0 for r in m["rtt_ms"]) >= 25


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_cleanup_without_heal_kills_the_packet_program(cli_cluster, sb_state_dir):
    env, run_id = cli_cluster
    store = StateStore(sb_state_dir)
    assert splitbrain("nemesis", "delay", "--ms", "20", env=env).returncode == 0
    helpers = _helpers(store, run_id)
    assert set(helpers) == {"n1/netqueue", "n2/netqueue"}
    out = splitbrain("cleanup", "--run-id", run_id, env=env)
    assert out.returncode == 0, out.stderr
    assert not any(process_is(h["pid"], h["start_time"]) for h in helpers.values())
    assert store.read(run_id) is None
    assert splitbrain("cleanup", "--run-id", run_id, env=env).returncode == 0  # idempotent


def test_amounts_and_flips_come_from_the_test_options():
    from splitbrain.harness.run.runner import _configured
    assert _configured(FAULTS["delay"], {"delay_amounts": [300]}).amounts == (300,)
    assert _configured(FAULTS["rate"], {"rate_amounts": [64]}).amounts == (64,)
    assert _configured(FAULTS["corrupt"], {"corrupt_flips": 4}).flips == 4
    assert _configured(FAULTS["delay"], {}) == FAULTS["delay"]


def test_refused_on_ssh_clusters():
    from splitbrain.history.errors import BadInput
    from splitbrain.nemesis.link_appliers import refuse_remote

    class Remote:
        python = "python3"

        def upload_package(self, package):
            return "/x"

    class FakeCluster:
        hosts = {"n1": Remote()}

    with pytest.raises(BadInput, match="local namespace clusters only"):
        refuse_remote(FakeCluster(), "delay")


def test_a_systems_partition_shapes_do_not_leak_into_link_faults():
    from splitbrain.harness.run.runner import _configured
    opts = {"partition_shapes": ["isolate-leader"], "delay_shapes": ["halves"]}
    assert _configured(FAULTS["partition"], opts).shapes == ("isolate-leader",)
    assert _configured(FAULTS["delay"], opts).shapes == ("halves",)
    assert _configured(FAULTS["rate"], opts).shapes == FAULTS["rate"].shapes


def test_counts_are_the_last_programs_own():
    from splitbrain.nemesis.link_appliers import last_counts
    log = '{"bound": 17}\n{"packets": 5}\n{"bound": 17}\n'
    assert last_counts(log) is None  # the last program was killed before it printed
    assert last_counts(log + '{"packets": 9}\n') == {"packets": 9}
