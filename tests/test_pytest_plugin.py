"""The pytest plugin: a real passing and a real failing splitbrain test inside pytest (pytester), with the seed
and run directory in the failure message and in JUnit XML; verdict handling without processes."""

from __future__ import annotations

import types
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from splitbrain.harness.ci.pytest_plugin import SplitbrainRunner, SplitbrainUnknownVerdict
from splitbrain.harness.run.runner import RunOutcome

pytest_plugins = ["pytester"]

INNER_TESTS = '''
FAST = dict(workload="register", rate=60, recovery_time=1, op_timeout=0.5, nemesis_interval=2,
            nemesis_duration=1.5)

def test_correct_store(splitbrain):
    out = splitbrain.run(system="quorum-kv", time_limit=3, seed=5, **FAST)
    assert out.results["valid"] is True

def test_weak_quorums(splitbrain):
    splitbrain.run(system="quorum-kv", variant="r1w1", nemesis="partition", time_limit=6, seed=1, **FAST)
'''


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(150)
def test_passing_and_failing_splitbrain_tests(pytester, sb_state_dir, tmp_path):
    pytester.makepyfile(test_inner=INNER_TESTS)
    store, junit = tmp_path / "sbstore", tmp_path / "junit.xml"
    try:
        result = pytester.runpytest("-p", "no:cacheprovider", f"--splitbrain-store={store}", f"--junitxml={junit}")
    finally:
        from splitbrain.harness.hosts.cleanup import cleanup
        from splitbrain.harness.hosts.resources import StateStore
        cleanup(StateStore(str(sb_state_dir)))
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "splitbrain verdict: INVALID (expected valid)" in out
    assert "seed:    1" in out and "splitbrain replay " + str(store) in out
    assert "--variant r1w1" in out  # the same-seed command

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    for name, seed in (("test_correct_store", "5"), ("test_weak_quorums", "1")):
        props = {p.get("name"): p.get("value") for p in cases[name].iter("property")}
        assert props["splitbrain_seed"] == seed
        run_dir = Path(props["splitbrain_run_dir"])
        assert run_dir.is_relative_to(store) and (run_dir / "history.jsonl").is_file()
        assert run_dir.parent.name == name  # the store names runs after the pytest test
    assert cases["test_weak_quorums"].find("failure") is not None
    assert cases["test_correct_store"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in cases["test_weak_quorums"].iter("property")}
    assert props["splitbrain_verdict"] == "invalid"
    assert props["splitbrain_replay"] == f"splitbrain replay {props['splitbrain_run_dir']}"


# ------------------------------------------------------------------------------ verdict handling, no processes


def _runner(tmp_path, valid, fail_on_unknown=True):
    node = types.SimpleNamespace(name="test_x[param]", user_properties=[])
    request = types.SimpleNamespace(node=node)

    def fake_run(spec, *, store_root, keep_cluster, progress, fault_schedule):
        run_dir = tmp_path / spec.name / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        return RunOutcome(run_dir, {"valid": valid, "results": {
            "linearizable": {"valid": valid, "cause": "ran out of time"}}})

    return SplitbrainRunner(request, tmp_path, fail_on_unknown, runner=fake_run), node


def test_unknown_fails_by_default_and_warns_when_allowed(tmp_path):
    r, node = _runner(tmp_path, "unknown")
    with pytest.raises(pytest.fail.Exception) as e:
        r.run(system="quorum-kv", workload="register", seed=9)
    assert "splitbrain verdict: unknown" in str(e.value) and "ran out of time" in str(e.value)
    assert ("splitbrain_seed", 9) in node.user_properties
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r.run(system="quorum-kv", workload="register", seed=9, fail_on_unknown=False)
    assert any(issubclass(w.category, SplitbrainUnknownVerdict) for w in caught)
    r2, _ = _runner(tmp_path, "unknown", fail_on_unknown=False)
    with pytest.warns(SplitbrainUnknownVerdict):
        r2.run(system="quorum-kv", workload="register", seed=9)


def test_expect_invalid(tmp_path):
    r, node = _runner(tmp_path, False)
    out = r.run(system="quorum-kv", variant="r1w1", workload="register", expect="invalid")
    assert out.results["valid"] is False
    assert dict(node.user_properties)["splitbrain_run_dir"].endswith("test_x_param/run")
    r, _ = _runner(tmp_path, True)
    with pytest.raises(pytest.fail.Exception, match=r"verdict: valid \(expected invalid\)"):
        r.run(system="quorum-kv", variant="r1w1", workload="register", expect="invalid")
