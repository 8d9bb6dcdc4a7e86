"""The clock-offset plot (reports/clock.py): steps per node from the history's clock faults, and the SVG in the
report, beside the timeline, with node names escaped."""

from splitbrain.history.ops import Op, write_history
from splitbrain.reports import render_report
from splitbrain.reports.clock import clock_plot, clock_series
from test_report_helpers import ATTACK, make_run

S = 1_000_000_000


def _clock_ops(evil: str = "n2") -> list[Op]:
    raw = [
        (1 * S, "invoke", "start-clock", {"mode": "offset", "nodes": ["n1", evil], "seconds": {"n1": 5, evil: -3}}),
        (1 * S + 5, "ok", "start-clock", {"mode": "offset", "offsets": {"n1": 5.0, evil: -3.0}}),
        (2 * S, "invoke", "start-clock", {"mode": "strobe", "nodes": ["n1"], "delta": 2.0}),
        (4 * S, "ok", "start-clock", {"mode": "strobe", "nodes": ["n1"], "delta": 2.0, "offsets": {"n1": 5.0}}),
        (5 * S, "invoke", "stop-clock", {"mode": "reset", "nodes": None}),
        (5 * S + 9, "ok", "stop-clock", {"mode": "reset", "offsets": {"n1": 0.0, evil: 0.0, "n3": 0.0}}),
        (6 * S, "invoke", "read", None),
    ]
    return [Op(i, t, "nemesis" if f != "read" else 0, ty, f, v) for i, (t, ty, f, v) in enumerate(raw)]


def test_series_follow_offsets_strobes_and_resets():
    series, strobes = clock_series(_clock_ops())
    assert series["n1"] == [(0, 0.0), (S + 5, 5.0), (4 * S, 5.0), (5 * S + 9, 0.0)]
    assert series["n2"] == [(0, 0.0), (S + 5, -3.0), (5 * S + 9, 0.0)]
    assert strobes == [{"node": "n1", "start": 2 * S, "end": 4 * S, "base": 5.0, "delta": 2.0}]


def test_no_plot_when_no_clock_moved():
    ops = [Op(0, 0, 0, "invoke", "read"), Op(1, 5, 0, "ok", "read", 1)]
    assert clock_plot(ops) is None


def test_report_shows_the_plot_with_names_escaped(tmp_path):
    run = make_run(tmp_path, verdict=True)
    write_history(run / "history.jsonl", _clock_ops(ATTACK))
    html = render_report(run).read_text()
    assert 'id="clock-offsets"' in html and 'class="clock-line"' in html
    assert ATTACK not in html and "&lt;img src=x" in html


def test_report_without_clock_faults_has_no_plot(tmp_path):
    run = make_run(tmp_path, verdict=True)
    assert 'id="clock-offsets"' not in render_report(run).read_text()
