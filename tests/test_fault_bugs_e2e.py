"""The bugs issue 17's faults are made to find, each through a real run: the no-fsync variants under lose-unfsynced
(acknowledged adds lost in a power cut), quorum-kv retry-as-new under delay (a timed-out add counted twice), raft-kv
no-checksum under corrupt (a damaged entry loaded: a crash in its log, or a wrong element served). Found rates and
the correct variants' runs are in bench/bench_seeds.py (presets durability, slow-links, corruption)."""

from __future__ import annotations

import pytest

from splitbrain.harness.run.spec import TestSpec
from _e2e import first_run_that_finds

pytestmark = [pytest.mark.netns, pytest.mark.e2e]


def _invalid(out) -> bool:
    return out.results["valid"] is False


@pytest.mark.timeout(240)
def test_no_fsync_loses_acknowledged_adds_in_a_power_cut(tmp_path, isolated_state):
    def spec(seed):
        return TestSpec(system="quorum-kv", variant="no-fsync", workload="set", nemesis=("lose-unfsynced",),
                        time_limit=8, rate=60, seed=seed, nemesis_interval=3, nemesis_duration=2, recovery_time=1)
    out, tried = first_run_that_finds(tmp_path, spec, [1, 2, 3], _invalid)
    assert _invalid(out), f"not found in seeds {tried}"
    # the fault is in the history: nodes killed, the un-durable log dropped, restarted
    assert "start-lose-unfsynced" in (out.run_dir / "history.jsonl").read_text()


@pytest.mark.timeout(240)
def test_retry_as_new_counts_a_timed_out_add_twice_on_slow_links(tmp_path, isolated_state):
    def spec(seed):
        return TestSpec(system="quorum-kv", variant="retry-as-new", workload="counter", nemesis=("delay",),
                        time_limit=8, rate=60, seed=seed, nemesis_interval=3, nemesis_duration=2, recovery_time=1,
                        options={"delay_amounts": [200, 400], "coordinator_timeout": 0.3})
    out, tried = first_run_that_finds(tmp_path, spec, [1, 2, 3], _invalid)
    assert _invalid(out), f"not found in seeds {tried}"
    assert out.results["results"]["counter"]["valid"] is False


@pytest.mark.timeout(240)
def test_raft_no_fsync_loses_committed_entries_when_every_node_loses_power(tmp_path, isolated_state):
    def spec(seed):
        return TestSpec(system="raft-kv", variant="no-fsync", workload="set", nemesis=("lose-unfsynced",),
                        time_limit=8, rate=60, seed=seed, nemesis_interval=3, nemesis_duration=2, recovery_time=1,
                        options={"lose-unfsynced_targets": ["all"]})
    out, tried = first_run_that_finds(tmp_path, spec, [1, 2, 3], _invalid)
    assert _invalid(out), f"not found in seeds {tried}"


@pytest.mark.timeout(240)
def test_raft_no_checksum_loads_a_damaged_entry(tmp_path, isolated_state):
    def spec(seed):
        return TestSpec(system="raft-kv", variant="no-checksum", workload="set", nemesis=("corrupt",),
                        time_limit=8, rate=60, seed=seed, nemesis_interval=2, nemesis_duration=1, recovery_time=1,
                        options={"corrupt_flips": 4})
    out, tried = first_run_that_finds(tmp_path, spec, [1, 2, 3], _invalid)
    assert _invalid(out), f"not found in seeds {tried}"
    text = (out.run_dir / "history.jsonl").read_text()
    assert '"start-corrupt"' in text and ('"changes"' in text or '"new_size"' in text)
