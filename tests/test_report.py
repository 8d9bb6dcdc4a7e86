"""reports: the page's content, its escaping and CSP, the pieces it is built from, and the `report` command."""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from splitbrain.history.errors import BadInput
from splitbrain.history.ops import Op, pair_ops
from splitbrain.reports import find_runs, load_run, render_index, render_report
from splitbrain.reports.render import headline
from splitbrain.reports.counterexample import anomaly_view, draw, linearizability_view
from splitbrain.reports.safe_json import script_json
from splitbrain.reports.stats import quantile_table
from splitbrain.reports.timeline import fault_periods, timeline_data
from test_report_helpers import ATTACK, MS, make_run

REPO = Path(__file__).resolve().parents[1]


class _Elements(HTMLParser):
    """Collects the elements the browser's parser would build, and the raw text of script/style elements."""

    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self.styles, self.attrs = [], [], [], []
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        self._in = (tag, dict(attrs)) if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._in and self._in[0] == "script":
            self.scripts.append((self._in[1], data))
        elif self._in and self._in[0] == "style":
            self.styles.append(data)

    def handle_endtag(self, tag):
        self._in = None


def _parse(html: str) -> _Elements:
    p = _Elements()
    p.feed(html)
    return p


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_failing_run_report_shows_verdict_failure_and_test(tmp_path):
    run = make_run(tmp_path)
    html = render_report(run).read_text()
    assert "INVALID: quorum-kv-register" in html
    assert "read of key k1 by process 12 returned 1" in html          # the checker's sentence, at the top
    assert html.index("class=\"banner invalid\"") < html.index("Why linearizable failed")
    assert "splitbrain run --system quorum-kv --variant stale-reads --seed 42" in html
    for text in ("stale-reads", "n1, n2, n3", "partition, kill"):
        assert text in html
    # the counterexample: both writes numbered, the read marked as the op that could not be placed
    assert re.search(r'class="linearized t-ok" data-index="\d+"', html)
    assert 'class="stuck t-ok"' in html and "could not be placed" in html
    assert "divergent-final-reads" in html                           # the convergence anomaly
    assert 'href="nodes/n1/node.log"' in html and 'href="history.jsonl"' in html


def test_report_is_self_contained_with_a_csp_naming_its_own_code(tmp_path):
    html = render_report(make_run(tmp_path)).read_text()
    doc = _parse(html)
    for tag, attrs in doc.attrs:   # nothing is loaded from anywhere: no src, no stylesheet links
        assert "src" not in attrs or tag == "img" and attrs["src"].startswith("data:"), (tag, attrs)
        assert not (tag == "link" and "stylesheet" in attrs.get("rel", ""))
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    csp = next(a["content"] for t, a in doc.attrs if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    code = [s for a, s in doc.scripts if a.get("type") != "application/json"]
    assert len(code) == 1 and len(doc.styles) == 1
    assert f"script-src {_hash(code[0])};" in csp
    assert f"style-src {_hash(doc.styles[0])};" in csp
    assert "default-src 'none'" in csp and "img-src data:" in csp and "unsafe-inline" not in csp


def test_values_from_the_system_are_escaped_everywhere(tmp_path):
    html = render_report(make_run(tmp_path, attack=True)).read_text()
    doc = _parse(html)
    assert "img" not in doc.tags and "b" not in doc.tags
    assert "<img" not in html and "<b>" not in html and "</script><" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html                          # shown as text
    data = next(s for a, s in doc.scripts if a.get("type") == "application/json")
    assert "<" not in data and ">" not in data
    assert ATTACK in json.dumps(json.loads(data), ensure_ascii=False).replace('\\"', '"')


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4), max_leaves=20))
def test_script_json_round_trips_and_cannot_end_a_script(value):
    out = script_json(value)
    assert json.loads(out) == value
    for ch in "<>&'\u2028\u2029":
        assert ch not in out


def _ops(*rows):
    return [Op(i, int(t * MS), p, ty, f, v) for i, (t, p, ty, f, v) in enumerate(rows)]


def test_fault_periods_pair_starts_with_stops_and_run_to_the_end():
    ops = _ops((0, "nemesis", "invoke", "start-partition", {"n1": ["n2"]}), (1, "nemesis", "ok", "start-partition", 1),
               (2, "nemesis", "invoke", "kill", ["n2"]), (3, "nemesis", "info", "kill", None),
               (5, "nemesis", "invoke", "stop-partition", None), (6, "nemesis", "ok", "stop-partition", None),
               (7, "nemesis", "invoke", "restart", ["n2"]), (8, "nemesis", "ok", "restart", None),
               (9, "nemesis", "invoke", "start-pause", ["n3"]), (10, "nemesis", "ok", "start-pause", None),
               (11, "nemesis", "invoke", "clock-bump", 5), (11.5, "nemesis", "ok", "clock-bump", 5))
    got = [(p.kind, p.start // MS, None if p.end is None else p.end // MS, p.uncertain, p.instant)
           for p in fault_periods(ops)]
    assert got == [("partition", 0, 6, False, False), ("kill", 2, 8, True, False), ("pause", 9, None, False, False),
                   ("clock-bump", 11, 11, False, True)]


def test_timeline_data_columns_and_lane_folding():
    rows = []
    for p in range(100):       # 100 processes, concurrency 5: folded into 5 worker lanes
        rows += [(p * 2, p, "invoke", "write", p), (p * 2 + 1, p, "info" if p % 2 else "ok", "write", p)]
    rows.append((300, 200, "invoke", "read", None))
    data = timeline_data(_ops(*rows), [{"time": 5 * MS, "node": "n1", "term": 2}], concurrency=5)
    assert data["lanes"] == ["w0", "w1", "w2", "w3", "w4"]
    o = data["ops"]
    assert len(o["s"]) == 101 and o["e"][-1] == -1 and o["t"][:2] == [0, 2]
    assert data["str"][o["f"][0]] == "write" and data["str"][o["val"][3]] == "3"
    assert data["leaders"] == [{"t": 5000, "node": "n1", "term": "2"}]
    few = timeline_data(_ops(*rows[:6]), [], concurrency=5)
    assert few["lanes"] == ["p0", "p1", "p2"]


def test_linearizability_view_lays_out_the_prefix_and_the_stuck_op():
    ops = _ops((0, 1, "invoke", "write", 1), (1, 1, "ok", "write", 1), (2, 2, "invoke", "write", 2),
               (3, 3, "invoke", "read", None), (4, 2, "ok", "write", 2), (5, 3, "ok", "read", 1))
    v = linearizability_view(ops, {"key": None, "explanation": "x", "window": [0, 2, 3, 5, 999],
                                   "longest_prefix": [0, 2], "states": [1, 2], "stuck_op": 3, "state_before": 2})
    assert [(r["order"], r["op"], r["state"]) for r in v.prefix_rows] == [(1, "write 1", "1"), (2, "write 2", "2")]
    assert v.stuck == {"index": 3, "process": 3, "op": "read \u2192 1"} and v.state_before == "2"
    assert v.missing == 1
    kinds = {b.index: (b.kind, b.order) for b in v.drawing.bars}
    assert kinds == {0: ("linearized", 1), 2: ("linearized", 2), 3: ("stuck", None)}
    bars = {b.index: b for b in v.drawing.bars}
    assert bars[2].x1 < bars[3].x1 < bars[2].x2        # concurrent ops overlap in the drawing


def test_a_narrow_failing_bar_keeps_its_value():
    # Thirty overlapping ops squeeze every bar; the failing read's bar must still say what it returned.
    rows = [(i, i, "invoke", "write", i) for i in range(30)] + [(30, 99, "invoke", "read", None),
                                                                  (30.5, 99, "ok", "read", 2)]
    rows += [(31 + i, i, "ok", "write", i) for i in range(30)]
    ops = _ops(*rows)
    bars = {b.index: b for b in draw(pair_ops(ops), stuck=30).bars}
    assert bars[30].kind == "stuck" and "2" in bars[30].label and bars[30].label.startswith("\u2192")
    # A read of the initial value says so too.
    ops = _ops((0, 1, "invoke", "read", None), (1, 1, "ok", "read", None))
    assert draw(pair_ops(ops)).bars[0].label == "read \u2192 null"


def test_causal_anomaly_view_draws_its_chain(tmp_path):
    run = load_run(make_run(tmp_path, causal=True))
    a = json.loads((run.path / "results.json").read_text())["results"]["causal"]["anomalies"][0]
    v = anomaly_view(run.ops, a)
    chain = [e["index"] for e in a["chain"]]
    assert v.has_chain and [r["index"] for r in v.rows] == chain
    assert [r["step"] for r in v.rows] == [1, 2, 3, 4, 5]
    assert v.rows[-1]["value"] == "\u2192 null" and v.rows[1]["value"] == "\u2192 5" and v.rows[0]["type"] == "ok"
    bars = {b.index: b for b in v.drawing.bars}
    assert [bars[i].kind for i in chain] == ["chain"] * 4 + ["stuck"]
    assert [bars[i].order for i in chain] == [1, 2, 3, 4, None]
    assert [l["kind"] for l in v.drawing.links] == ["rf", "po", "rf", "po"]
    assert [lane["label"] for lane in v.drawing.lanes] == ["p20 n1", "p21 n2", "p22 n3"]
    assert bars[chain[0]].label == "write x 5"                       # several keys: each bar names its key
    assert v.facts == []
    # With no linearizability failure, the chain's stretch of time is what "zoom to failure" shows.
    from splitbrain.reports.counterexample import PairIndex
    from splitbrain.reports.render import _chain_window_us
    win = _chain_window_us(run.ops, [a], PairIndex(run.ops))
    assert win == {"s": run.ops[chain[0]].time // 1000, "e": run.ops[chain[-1] + 1].time // 1000}


def test_causal_report_sections(tmp_path):
    html = render_report(make_run(tmp_path, causal=True)).read_text()
    assert html.count('class="chain t-ok"') == 4 and 'class="stuck t-ok"' in html
    assert html.count('<g class="link rf">') == 2 and html.count('<g class="link po">') == 2
    assert "the op that broke the rule" in html and "in the chain" in html
    # the delivery-order anomaly has no client ops: no empty op table, its facts instead; it is a second opinion
    card = html[html.index("delivery-order (second opinion)"):]
    card = card[:card.index("</section>")]
    assert "anomaly-ops" not in card and "<th>index</th>" not in card
    assert "position in its delivery log</th><td class=\"mono\">17" in card and "n1:4, n2:64" in card
    assert "second opinion" in html[html.index('id="checkers"'):html.index('id="test"')]
    # the headline is a history checker's before a second opinion's, and a second opinion says it is one
    second = {"name": "delivery-order", "word": "invalid", "summary": "n3 delivered n2:64 early", "second": "logs"}
    first = {"name": "causal", "word": "invalid", "summary": "a read missed a write", "second": None}
    assert headline("invalid", [second, first], 10) == "causal: a read missed a write"
    assert headline("invalid", [second], 10) == "delivery-order (second opinion): n3 delivered n2:64 early"
    # unset test fields are left out
    table = html[html.index('id="test"'):html.index("Reproduce")]
    assert "test_name" not in table and "hosts_file" not in table and "null" not in table


def test_quantiles_per_op_type():
    rows = []
    for i in range(100):
        rows += [(i * 10, 0, "invoke", "read", None), (i * 10 + (i + 1) / 10, 0, "ok", "read", 1)]
    rows += [(2000, 1, "invoke", "write", 1), (2050, 1, "fail", "write", 1)]
    table = quantile_table(pair_ops(_ops(*rows)))
    read = next(r for r in table if r["f"] == "read")
    assert read["count"] == 100 and read["p50"] == pytest.approx(5.05) and read["p99"] == pytest.approx(9.901)
    assert [(r["f"], r["type"], r["count"]) for r in table] == [("read", "ok", 100), ("write", "fail", 1)]


def test_runs_with_missing_or_bad_files(tmp_path):
    run = make_run(tmp_path)
    (run / "test.json").unlink()
    (run / "results.json").unlink()
    html = render_report(run).read_text()
    assert "UNCHECKED" in html and "There is no test.json" in html
    (run / "results.json").write_text("{nope")
    with pytest.raises(BadInput, match="results.json: bad JSON"):
        load_run(run)
    with pytest.raises(BadInput, match="not a run directory"):
        render_report(tmp_path)


def test_index_lists_runs_newest_first_and_skips_symlinks(tmp_path):
    make_run(tmp_path, name="a", ts="1", verdict=True, started="2024-01-01T10:00:00Z")
    make_run(tmp_path, name="b", ts="1", verdict="unknown", started="2024-01-03T10:00:00Z")
    make_run(tmp_path, name="c", ts="1", verdict=False, started="2024-01-02T10:00:00Z")
    os.symlink(tmp_path / "c" / "1", tmp_path / "latest")
    assert [r.rel for r in find_runs(tmp_path)] == ["b/1", "c/1", "a/1"]
    html = render_index(tmp_path).read_text()
    assert html.index('data-verdict="unknown"') < html.index('data-verdict="invalid"') < html.index(
        'data-verdict="valid"')


@pytest.mark.timeout(60)
def test_report_command_writes_the_report_and_maps_bad_input_to_254(tmp_path):
    run = make_run(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    ok = subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", "report", str(run)], capture_output=True, text=True,
                        env=env, cwd=REPO, timeout=50)
    assert ok.returncode == 0, ok.stderr
    assert Path(ok.stdout.strip()) == run / "report.html" and (run / "report.html").stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", "report", str(tmp_path / "nope")],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=50)
    assert bad.returncode == 254 and "not a directory" in bad.stderr


def test_checker_summaries_use_the_checkers_own_words_or_counts():
    from splitbrain.reports.render import checker_summary
    assert checker_summary("lin", {"valid": True, "checker": "linearizable", "ops": 10, "partitions": 2,
                                   "check_ms": 5, "model": "register"}) == \
        "10 ops, 2 partitions, checked in 5 ms, model register"
    assert checker_summary("lin", {"valid": "unknown", "cause": "out of time"}) == "out of time"
    assert checker_summary("set", {"valid": False, "lost": [1, 2], "unexpected": [], "stale": [3]}) == \
        "lost: 2, unexpected: 0, stale: 1"
    assert checker_summary("conv", {"valid": True, "anomalies": []}) == "anomalies: 0"
