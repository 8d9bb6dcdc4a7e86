"""End to end: the seeded bugs that plain partitions, kills and pauses did not expose, found with the faults made
for them (``crash``: hang several nodes together, then kill them; ``chase``: isolate each new leader).

Each test is a real run of about 15-25 s on namespaces, with a seed that finds the bug (bench/bench_seeds.py
measures over ten seeds how often); each bug is paired with the correct variant under the same fault, so a fault
that broke every variant would fail here.
"""

from __future__ import annotations

import pytest

from splitbrain.harness.run.runner import run_test
from splitbrain.harness.run.spec import TestSpec
from tests._e2e import first_run_that_finds

pytestmark = [pytest.mark.e2e, pytest.mark.netns]


def _run(tmp_path, **kw):
    spec = TestSpec(**{**dict(nodes=3, time_limit=15, rate=100, recovery_time=2, seed=1), **kw})
    return run_test(spec, store_root=tmp_path / "store", progress=False)


def _faults(out, name):
    from splitbrain.history.ops import NEMESIS, read_history
    return [op for op in read_history(out.run_dir / "history.jsonl")
            if op.process == NEMESIS and op.type == "ok" and op.f == f"start-{name}"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("variant", ["no-read-repair", "correct"])
def test_quorum_set_under_crash_of_a_majority(tmp_path, isolated_state, variant):
    """A hung-then-killed majority leaves adds on the one live replica only; without the read's write-back one
    read returns them and a later read does not."""
    out = _run(tmp_path, system="quorum-kv", variant=variant, workload="set", nemesis=("crash",),
               nemesis_interval=4, nemesis_duration=3)
    crashes = _faults(out, "crash")
    assert crashes and all(len(op.value["killed"]) == 2 for op in crashes)  # the adapter aims it at a majority
    result = out.results["results"]["set"]
    if variant == "correct":
        assert out.results["valid"] is True, result
    else:
        assert result["valid"] is False, result
        assert result["stale_count"] + result["lost_count"] > 0 and result["unexpected_count"] == 0


@pytest.mark.timeout(300)
@pytest.mark.parametrize("variant", ["commit-old-term", "correct"])
def test_raft_set_under_leader_chase(tmp_path, isolated_state, variant):
    """Isolating each new leader soon after it is known, with no healed gap: commit-old-term's leader skips the
    no-op barrier, so a new leader answers reads before it knows what its predecessor committed (an acknowledged
    element goes missing from a read, then is back). What this finds is that half of the seeded variant, not the
    Figure 8 overwrite itself (no run has lost an element for good)."""
    # 5-6 of 10 seeds find it in 20 s (bench_seeds.py; 30 s runs do no better) and the outcome also depends on
    # timing (a CI run missed with three seeds that the bench found with), so the buggy variant gets up to eight
    # seeds: all miss about 0.4% of the time
    def spec(seed):
        return TestSpec(system="raft-kv", variant=variant, workload="set", nemesis=("chase",), seed=seed, nodes=3,
                        rate=100, recovery_time=2, time_limit=20, nemesis_interval=1, nemesis_duration=0.5,
                        options={"read_fraction": 0.5})

    seeds = (2,) if variant == "correct" else (2, 3, 4, 5, 6, 7, 8, 9)
    out, tried = first_run_that_finds(tmp_path, spec, seeds, lambda o: o.results["valid"] is False)
    assert len(_faults(out, "chase")) >= 5
    result = out.results["results"]["set"]
    if variant == "correct":
        assert out.results["valid"] is True, out.results["results"]
    else:
        assert result["valid"] is False, (tried, result)
        assert result["stale_count"] + result["lost_count"] > 0 and result["unexpected_count"] == 0


def _voter_restart_spec(variant):
    def spec(seed):
        # pre-vote off: with it a candidate must first win pre-votes of a majority, and the fault's frozen election
        # never starts (the bug is in vote durability, which pre-vote only makes harder to reach)
        return TestSpec(system="raft-kv", variant=variant, workload="register", nemesis=("voter-restart",),
                        seed=seed, nodes=3, rate=60, recovery_time=2, time_limit=30, nemesis_interval=6,
                        nemesis_duration=5, options={"raft_kv": {"pre_vote": False}})
    return spec


def _completed_tries(out):
    """Each try that got as far as a second leader, with its own steps (the completion's ``steps`` of that try)."""
    return [{**t, "steps": [s for s in op.value["steps"] if s["try"] == k]}
            for op in _faults(out, "voter-restart") for k, t in enumerate(op.value["attempts"]) if "stopped" not in t]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("variant", ["volatile-vote", "correct"])
def test_raft_vote_forgotten_across_a_restart(tmp_path, isolated_state, variant):
    """The voter-restart fault freezes an election after the voter said yes, restarts the voter, and lets the rest
    elect: volatile-vote's voter forgot its vote and a second leader of the same term appears (the election
    checker finds it from the nodes' own claims); correct's voter remembers, so the second leader is of a later
    term. A try of the fault may stop early (a race it can lose), so a run may need another seed."""
    if variant == "correct":
        # about 1 try in 5 completes, so a 30 s run (four faults) may have none: up to four seeds
        out, tried = first_run_that_finds(tmp_path, _voter_restart_spec(variant), (1, 2, 3, 4),
                                          lambda o: bool(_completed_tries(o)))
        done = _completed_tries(out)
        assert done, (tried, [op.value for op in _faults(out, "voter-restart")])
        for t in done:  # the second election went past the term the voter had voted in
            assert all(term > t["term"] for term in t["steps"][-1]["leaders"].values()), t
        assert out.results["results"]["election"]["valid"] is True, out.results["results"]["election"]
        assert out.results["valid"] is True, out.results["results"]
        return
    # 5 of 6 seeds find it in 30 s runs (bench_seeds.py; the fault starts no try after the load ends, so 20 s
    # runs find it in only 6 of 10): up to four seeds here
    out, tried = first_run_that_finds(tmp_path, _voter_restart_spec(variant), (1, 2, 3, 4),
                                      lambda o: o.results["results"]["election"]["valid"] is False)
    election = out.results["results"]["election"]
    assert election["valid"] is False, (tried, election)
    doubled = {v["term"] for v in election["violations"]}
    assert doubled & {t["term"] for t in _completed_tries(out)}, (election, _completed_tries(out))
