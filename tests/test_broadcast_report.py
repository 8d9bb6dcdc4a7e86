"""The report draws a broadcast violation as each node's delivery sequence with the violating pair highlighted;
message values from the system are escaped."""

import json

from splitbrain.checkers.broadcast import check_broadcast
from splitbrain.history.ops import write_history
from splitbrain.reports import render_report
from splitbrain.reports.counterexample import delivery_sequences
from test_broadcast_checker import H
from test_report_helpers import ATTACK


def _run(tmp_path, h, claim):
    run = tmp_path / "chat" / "20240101T120000"
    run.mkdir(parents=True)
    write_history(run / "history.jsonl", h.ops)
    result = check_broadcast(h.ops, claim=claim)
    (run / "results.json").write_text(json.dumps({"valid": result["valid"], "results": {"broadcast": result}}))
    (run / "test.json").write_text(json.dumps({"name": "chat", "system": "chat", "workload": "chat"}))
    return run, result


def test_a_causal_violation_is_drawn_per_node_with_the_pair_highlighted(tmp_path):
    h = H().post("n1", "a").read("n2", ["a"]).post("n2", ATTACK)
    h.final("n1", ["a", ATTACK]).final("n2", ["a", ATTACK]).final("n3", [ATTACK, "a"])
    run, result = _run(tmp_path, h, "causal")
    assert result["valid"] is False
    html = render_report(run).read_text()
    assert ATTACK not in html and "&lt;/script&gt;" in html
    assert html.count('class="seq-msg mono hl"') == 4  # the pair, on n2 and on n3
    assert '<span class="seq-node mono">n3</span>' in html and "violating pair is highlighted" in html


def test_sequences_mark_gaps_and_ignore_malformed_entries():
    a = {"sequences": {"n1": [[0, "x"], [5, "y"], "junk", [6, {"k": 1}]], "n2": "junk"}, "highlight": ["y"]}
    (n1,) = [s for s in delivery_sequences(a) if s["node"] == "n1"]
    assert [(c["pos"], c["gap"], c["hl"]) for c in n1["cells"]] == [(0, False, False), (5, True, True),
                                                                   (6, False, False)]
    assert delivery_sequences({"sequences": "nope"}) == [] and delivery_sequences({}) == []
