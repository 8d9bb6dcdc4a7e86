"""The log-pattern checker (checkers/logs.py) and its wiring: node logs read from a run directory, patterns from the
system or the test, a match makes the run invalid and the report shows the lines (escaped)."""

import json

from splitbrain.checkers.logs import DEFAULT_PATTERNS, check_log_patterns
from splitbrain.harness.run.analysis import analyze_run, log_patterns_for, read_node_logs
from test_report_helpers import ATTACK, make_run

TRACEBACK = """INFO serving on 10.0.0.1:7000
Traceback (most recent call last):
  File "server.py", line 10, in handle
    assert entry.term <= self.term
AssertionError
INFO still serving
"""


def test_clean_logs_are_valid():
    r = check_log_patterns({"n1": {"node.stderr.log": "INFO started\nWARNING peer n2 unreachable\n"}})
    assert r["valid"] is True and r["matches"] == [] and r["files"] == 1


def test_each_default_pattern_is_found():
    lines = ["Traceback (most recent call last):", "panic: runtime error: index out of range",
             "2024-01-01 FATAL could not open log", "python3: x.c:10: f: Assertion `n > 0' failed."]
    for line in lines:
        r = check_log_patterns({"n2": {"node.log": f"ok\n{line}\nok\n"}})
        assert r["valid"] is False, line
        assert r["matches"][0]["line"] == 2 and r["matches"][0]["text"] == line


def test_a_traceback_is_shown_with_the_lines_that_follow():
    r = check_log_patterns({"n1": {"a.log": "fine\n"}, "n3": {"node.stderr.log": TRACEBACK}})
    assert r["valid"] is False
    first = r["matches"][0]
    assert (first["node"], first["file"], first["line"]) == ("n3", "node.stderr.log", 2)
    assert "AssertionError" in first["context"]
    # The AssertionError line is a match of its own too.
    assert [m["line"] for m in r["matches"]] == [2, 5]
    assert "n3 logged" in r["explanation"] and "2 matching lines" in r["explanation"]


def test_words_that_only_look_alike_do_not_match():
    logs = {"n1": {"node.log": "nonfatal retry\nFATALITY count 0\nthe panic button\nassertions checked: 4\n"}}
    assert check_log_patterns(logs)["valid"] is True


def test_matches_are_capped_and_counted():
    r = check_log_patterns({"n1": {"x.log": "panic: x\n" * 50}}, max_matches=5)
    assert r["valid"] is False and len(r["matches"]) == 5 and r["omitted"] == 45


def test_a_bad_pattern_is_unknown_not_a_crash():
    r = check_log_patterns({"n1": {"x.log": "a\n"}}, ["("])
    assert r["valid"] == "unknown" and "not a valid regular expression" in r["error"]


def test_patterns_come_from_the_test_then_the_system_then_the_defaults():
    assert log_patterns_for({"system": "raft-kv"}) == list(DEFAULT_PATTERNS)
    assert log_patterns_for({"system": "no-such-system"}) == list(DEFAULT_PATTERNS)
    assert log_patterns_for({"system": "raft-kv", "options": {"log_patterns": ["BUG"]}}) == ["BUG"]


def test_a_run_whose_node_logged_a_traceback_is_invalid_and_the_report_shows_it(tmp_path):
    run = make_run(tmp_path, verdict=True)
    (run / "nodes" / "n2" / "node.stderr.log").write_text(TRACEBACK + ATTACK + " FATAL\n")
    assert set(read_node_logs(run)["n2"]) == {"node.log", "node.stderr.log"}
    results = analyze_run(run)
    assert results["valid"] is False
    assert results["results"]["log-patterns"]["valid"] is False
    assert json.loads((run / "results.json").read_text())["results"]["log-patterns"]["matches"][0]["node"] == "n2"
    html = (run / "report.html").read_text()
    assert 'id="log-matches"' in html and "Traceback (most recent call last)" in html
    assert ATTACK not in html and "&lt;img src=x" in html


def test_a_run_with_clean_logs_gets_a_valid_log_checker(tmp_path):
    run = make_run(tmp_path, verdict=True)
    results = analyze_run(run)
    assert results["results"]["log-patterns"]["valid"] is True
