"""Suites: the TOML matrix, expectations, the time budget, the summaries, and one real small suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from splitbrain.history.errors import BadInput, ClusterError
from splitbrain.harness.run.runner import RunOutcome
from splitbrain.harness.ci.suite import (INCONCLUSIVE, MET, MISSED, NO_EXPECTATION, cell_outcome, exit_code, load_suite,
                           parse_suite, run_suite)

SPLITBRAIN = str(Path(sys.executable).with_name("splitbrain"))


def _suite(**over):
    data = {"name": "t", "defaults": {"time_limit": 5},
            "matrix": [{"system": "quorum-kv", "variants": ["correct", "r1w1"], "workload": "register",
                        "faults": ["partition", "kill,pause"], "seeds": 2,
                        "expect": {"correct": "valid", "r1w1": "invalid"}}]}
    data.update(over)
    return parse_suite(data, source="t.toml")


def test_matrix_expands_into_cells():
    s = _suite()
    assert [c.id for c in s.cells] == [
        "quorum-kv/correct/register/partition", "quorum-kv/correct/register/kill+pause",
        "quorum-kv/r1w1/register/partition", "quorum-kv/r1w1/register/kill+pause"]
    assert all(c.seeds == (1, 2) for c in s.cells)
    assert [c.expect for c in s.cells] == ["valid", "valid", "invalid", "invalid"]
    spec = s.cells[1].spec(2)
    assert spec.nemesis == ("kill", "pause") and spec.seed == 2 and spec.time_limit == 5


@pytest.mark.parametrize("change, where", [
    ({"bogus": 1}, "t.toml"),
    ({"defaults": {"time_limt": 3}}, "t.toml: defaults"),
    ({"matrix": [{"system": "nope", "workload": "register"}]}, "t.toml: matrix[0].system"),
    ({"matrix": [{"system": "quorum-kv", "variant": "nope", "workload": "register"}]}, "t.toml: matrix[0].variants"),
    ({"matrix": [{"system": "quorum-kv", "workload": "register", "faults": ["flood"]}]}, "t.toml: matrix[0].faults"),
    ({"matrix": [{"system": "quorum-kv", "workload": "register", "expect": "maybe"}]}, "t.toml: matrix[0].expect"),
    ({"matrix": [{"system": "quorum-kv", "workload": "register", "seeds": 0}]}, "t.toml: matrix[0].seeds"),
    ({"matrix": []}, "t.toml"),
])
def test_bad_suites_name_the_place(change, where):
    with pytest.raises(BadInput) as e:
        _suite(**change)
    assert e.value.location == where, str(e.value)


def test_bad_toml_names_the_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("matrix = [\n")
    with pytest.raises(BadInput) as e:
        load_suite(p)
    assert str(p) in str(e.value) and "TOML" in str(e.value)


def test_cell_outcomes():
    assert cell_outcome("valid", [True, True]) == MET
    assert cell_outcome("valid", [True, False]) == MISSED
    assert cell_outcome("valid", [True, "unknown"]) == INCONCLUSIVE
    assert cell_outcome("valid", [True], skipped=1) == INCONCLUSIVE
    assert cell_outcome("invalid", [True, False]) == MET
    assert cell_outcome("invalid", [True, True]) == MISSED
    assert cell_outcome("invalid", [True, "error"]) == INCONCLUSIVE
    assert cell_outcome("invalid", []) == INCONCLUSIVE
    assert cell_outcome(None, [False]) == NO_EXPECTATION
    assert exit_code([{"outcome": MET}, {"outcome": NO_EXPECTATION}]) == 0
    assert exit_code([{"outcome": MET}, {"outcome": INCONCLUSIVE}]) == 2
    assert exit_code([{"outcome": INCONCLUSIVE}, {"outcome": MISSED}]) == 1


class FakeRunner:
    """Stands in for run_test: a verdict per (variant, seed), 10 fake seconds per run on a fake clock."""

    def __init__(self, tmp_path, verdicts):
        self.tmp_path, self.verdicts, self.now, self.calls = tmp_path, verdicts, 0.0, []

    def clock(self):
        return self.now

    def __call__(self, spec, *, store_root, progress):
        self.calls.append((spec.variant, spec.seed))
        self.now += 10.0
        v = self.verdicts[(spec.variant, spec.seed)]
        if isinstance(v, Exception):
            raise v
        run_dir = Path(store_root) / spec.name / f"run{len(self.calls)}"
        run_dir.mkdir(parents=True)
        (run_dir / "report.html").write_text("<html></html>")
        return RunOutcome(run_dir, {"valid": v, "results": {"linearizable": {"valid": v}}})


def test_budget_expectations_and_summaries(tmp_path):
    suite = parse_suite({"name": "fake", "time_budget": 35, "matrix": [
        {"system": "quorum-kv", "variants": ["correct", "r1w1"], "workload": "register", "faults": "partition",
         "seeds": [1, 2], "expect": {"correct": "valid", "r1w1": "invalid"}},
        {"system": "quorum-kv", "variant": "no-read-repair", "workload": "register", "expect": "invalid"}]})
    fake = FakeRunner(tmp_path, {("correct", 1): True, ("correct", 2): True,
                                 ("r1w1", 1): ClusterError("<script>alert(1)</script> went wrong"),
                                 ("r1w1", 2): False, ("no-read-repair", 1): False})
    summary, out = run_suite(suite, store_root=tmp_path / "store", out_dir=tmp_path / "out", runner=fake,
                             clock=fake.clock, log=lambda m: None)
    # 35 s budget, 10 s per run: the 5th run (no-read-repair) is never started
    assert fake.calls == [("correct", 1), ("correct", 2), ("r1w1", 1), ("r1w1", 2)]
    correct, r1w1, nrr = summary["cells"]
    assert correct["outcome"] == MET and correct["verdict"] is True and correct["bugs_found"] == 0
    assert r1w1["outcome"] == MET and r1w1["verdict"] is False and r1w1["bugs_found"] == 1
    assert r1w1["time_to_first_failure"] == 20.0 and r1w1["first_failing_seed"] == 2
    assert r1w1["runs"][0]["valid"] == "error" and "went wrong" in r1w1["runs"][0]["error"]
    assert nrr["runs"] == [] and nrr["skipped_seeds"] == [1] and nrr["outcome"] == INCONCLUSIVE
    assert summary["budget_exhausted"] and summary["exit_code"] == 2

    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["cells"][1]["first_failing_seed"] == 2
    html = (out / "summary.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="../store/' in html  # relative links to the runs' reports survive moving the whole tree
    for link in [r["report"] for c in summary["cells"] for r in c["runs"] if r["report"]]:
        assert (out / link).is_file()
    junit = ET.parse(out / "junit.xml").getroot()
    suite_el = junit.find("testsuite")
    assert suite_el.get("tests") == "3" and suite_el.get("skipped") == "1" and suite_el.get("failures") == "0"
    case = junit.find(".//testcase[@name='quorum-kv/r1w1/register/partition']")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["first_failing_seed"] == "2" and props["run_dir seed 2"].endswith("run4")


def test_contradicted_expectation_exits_1(tmp_path):
    suite = parse_suite({"matrix": [{"system": "quorum-kv", "variant": "r1w1", "workload": "register",
                                     "expect": "invalid"}]})
    fake = FakeRunner(tmp_path, {("r1w1", 1): True})
    summary, out = run_suite(suite, store_root=tmp_path / "s", out_dir=tmp_path / "o", runner=fake,
                             clock=fake.clock, log=lambda m: None)
    assert summary["exit_code"] == 1
    case = ET.parse(out / "junit.xml").getroot().find(".//testcase")
    assert case.find("failure") is not None and "all 1 seeds were valid" in case.find("failure").get("message")


SMALL_SUITE = """
name = "small"
time_budget = 150

[defaults]
time_limit = 6
rate = 60
nemesis_interval = 2
nemesis_duration = 1.5
recovery_time = 1
op_timeout = 0.5

[[matrix]]
system = "quorum-kv"
variants = ["correct", "r1w1"]
workload = "register"
faults = ["partition"]
seeds = [1]
expect = { correct = "valid", r1w1 = "invalid" }
"""


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(180)
def test_small_real_suite(tmp_path, sb_state_dir):
    spec = tmp_path / "small.toml"
    spec.write_text(SMALL_SUITE)
    try:
        p = subprocess.run([SPLITBRAIN, "suite", str(spec), "--store", str(tmp_path / "store"), "--out",
                            str(tmp_path / "summary")], capture_output=True, text=True, timeout=170,
                           env={**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir)})
    finally:
        from splitbrain.harness.hosts.cleanup import cleanup
        from splitbrain.harness.hosts.resources import StateStore
        cleanup(StateStore(str(sb_state_dir)))
    assert p.returncode == 0, p.stdout + p.stderr
    summary = json.loads((tmp_path / "summary" / "summary.json").read_text())
    by_id = {c["id"]: c for c in summary["cells"]}
    assert by_id["quorum-kv/correct/register/partition"]["verdict"] is True
    assert by_id["quorum-kv/r1w1/register/partition"]["verdict"] is False
    assert all(c["outcome"] == MET for c in summary["cells"])
    assert (tmp_path / "summary" / "summary.html").is_file() and (tmp_path / "summary" / "junit.xml").is_file()


def test_shipped_example_suites_parse(monkeypatch):
    root = Path(__file__).resolve().parent.parent
    monkeypatch.syspath_prepend(str(root / "examples" / "etcd"))  # the smoke suite loads the etcd plugin
    paths = sorted((root / "examples" / "suites").glob("*.toml"))
    assert paths
    for p in paths:
        s = load_suite(p)
        assert s.cells and all(c.expect in ("valid", "invalid") for c in s.cells), p
