"""The history format: round trips, validation with file:line, torn last lines, crash-safety of the writer."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings, strategies as st

from splitbrain.history.errors import MalformedHistory
from splitbrain.history.ops import HistoryWriter, Op, pair_ops, read_history, validate_history, write_history


def _lines(tmp_path, *objs, raw_tail=None):
    p = tmp_path / "h.jsonl"
    text = "".join(json.dumps(o) + "\n" for o in objs)
    if raw_tail is not None:
        text += raw_tail
    p.write_text(text)
    return p


def inv(t, p, f="read", v=None, **kw):
    return {"time": t, "process": p, "type": "invoke", "f": f, "value": v, **kw}


def done(t, p, ty="ok", f="read", v=None, **kw):
    return {"time": t, "process": p, "type": ty, "f": f, "value": v, **kw}


def test_writer_reader_round_trip(tmp_path):
    path = tmp_path / "h.jsonl"
    with HistoryWriter(path) as w:
        w.record(0, "invoke", "write", 3, node="n1", key="k")
        w.record(0, "ok", "write", 3, node="n1", key="k")
        w.record("nemesis", "invoke", "start-partition", {"n1": ["n2"]})
        w.record(1, "invoke", "read")
        w.record(1, "info", "read", error="timeout")
    ops = read_history(path)
    assert [o.index for o in ops] == [0, 1, 2, 3, 4]
    assert ops[0].key == "k" and ops[0].node == "n1" and ops[2].value == {"n1": ["n2"]}
    assert ops[4].error == "timeout"
    assert all(a.time <= b.time for a, b in zip(ops, ops[1:]))
    assert "node" not in json.loads(path.read_text().splitlines()[3])  # nulls are left out


@pytest.mark.parametrize("objs, message, line", [
    ([{"nope": 1}], "op has no 'time' field", 1),  # an unknown field is ignored (with a warning)
    ([inv(0, 0), done(1, 0, "weird")], "unknown op type", 2),
    ([inv(0, 0), done(1, 1)], "no pending invoke", 2),
    ([inv(0, 0), inv(1, 0)], "still pending", 2),
    ([inv(0, 0), done(1, 0, "info"), inv(2, 0)], "used again after it crashed", 3),
    ([inv(5, 0), done(3, 0)], "time goes backwards", 2),
    ([inv(0, 0), done(1, 0, f="write")], "does not match", 2),
    ([inv(-1, 0)], "non-negative", 1),
    ([inv(0, True)], "'process' must be", 1),
])
def test_validation_names_file_and_line(tmp_path, objs, message, line):
    p = _lines(tmp_path, *objs)
    with pytest.raises(MalformedHistory) as e:
        read_history(p)
    assert message in str(e.value)
    assert f"{p}:{line}" in str(e.value)


def test_bad_json_names_line(tmp_path):
    p = _lines(tmp_path, inv(0, 0), raw_tail='{"time": 1,, }\n' + json.dumps(done(2, 0)) + "\n")
    with pytest.raises(MalformedHistory, match=r"h\.jsonl:2: bad JSON"):
        read_history(p)


def test_torn_last_line_is_dropped_with_warning(tmp_path, caplog):
    p = _lines(tmp_path, inv(0, 0), done(1, 0), raw_tail='{"time": 2, "process": 0, "ty')
    ops = read_history(p)
    assert len(ops) == 2
    assert "torn last line" in caplog.text


def test_torn_line_only_at_the_end(tmp_path):
    # A broken line followed by a newline is not a torn write: it's corruption, and an error.
    p = _lines(tmp_path, inv(0, 0), raw_tail='{"time": 2, "process": 0, "ty\n')
    with pytest.raises(MalformedHistory, match=":2: bad JSON"):
        read_history(p)


def test_missing_file_is_bad_input(tmp_path):
    with pytest.raises(MalformedHistory, match="no such file"):
        read_history(tmp_path / "nope.jsonl")


def test_nemesis_ops_may_overlap(tmp_path):
    p = _lines(tmp_path, inv(0, "nemesis", "start-partition"), inv(1, "nemesis", "kill"),
               done(2, "nemesis", "ok", "kill"))
    assert len(read_history(p)) == 3


def test_pair_ops_includes_unfinished():
    ops = [Op(0, 0, 0, "invoke", "write", 1), Op(1, 1, 1, "invoke", "read"), Op(2, 2, 0, "ok", "write", 1)]
    pairs = pair_ops(ops)
    assert [(p.invoke.index, p.complete.index if p.complete else None) for p in pairs] == [(0, 2), (1, None)]
    assert pairs[1].type == "info"


@pytest.mark.timeout(30)
def test_history_survives_sigkill_of_the_writer(tmp_path):
    """Every op recorded before a SIGKILL is on disk and readable."""
    path = tmp_path / "h.jsonl"
    code = textwrap.dedent(f"""
        import sys
        from splitbrain.history.ops import HistoryWriter
        w = HistoryWriter({str(path)!r})
        for i in range(500):
            w.record(i, "invoke", "write", i)
            w.record(i, "ok", "write", i)
        print("recorded", flush=True)
        sys.stdin.read()  # wait to be killed
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "recorded"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    ops = read_history(path)
    assert len(ops) == 1000


ops_strategy = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["ok", "fail", "info"]),
                                  st.integers(0, 100)), max_size=30)


@settings(deadline=None)  # file I/O on a loaded machine can exceed hypothesis' 200 ms default
@given(ops_strategy)
def test_written_histories_read_back_identically(tmp_path_factory, steps):
    """Any well-formed history the writer produces reads back equal and valid."""
    path = tmp_path_factory.mktemp("h") / "h.jsonl"
    seen, retired, procs = [], set(), {}
    for thread, outcome, v in steps:
        p = procs.get(thread, thread)
        seen.append(Op(len(seen), len(seen), p, "invoke", "write", v))
        seen.append(Op(len(seen), len(seen), p, outcome, "write", v))
        if outcome == "info":
            procs[thread] = p + 4
    validate_history(seen)
    write_history(path, seen)
    assert read_history(path) == seen


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3), max_leaves=8)


@given(st.integers(0, 10**9), st.integers(0, 10**18), st.one_of(st.integers(0, 10**6), st.just("nemesis")),
       st.sampled_from(["invoke", "ok", "fail", "info"]), st.text(), json_values, st.none() | st.text(),
       st.none() | json_values, st.none() | st.text())
def test_fast_line_encoding_equals_the_json_encoder(i, t, p, ty, f, v, node, key, error):
    """Op.to_json builds lines by hand for speed; they must be exactly what the JSON encoder would write."""
    op = Op(i, t, p, ty, f, v, node, key, error)
    assert op.to_json() == json.dumps(op.to_dict(), separators=(",", ":"), ensure_ascii=False)
    assert json.loads(op.to_json()) == op.to_dict()


# --- the streaming reader's edges -------------------------------------------------------------------------------

def test_reader_accepts_crlf_leading_whitespace_and_blank_lines(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(b'  {"time": 1, "process": 0, "type": "invoke", "f": "read"}\r\n\r\n'
                  b'\t{"time": 2, "process": 0, "type": "ok", "f": "read", "value": 3}  \n')
    ops = read_history(p)
    assert [(o.index, o.type, o.value) for o in ops] == [(0, "invoke", None), (1, "ok", 3)]


def test_bad_utf8_names_its_line(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(json.dumps(inv(1, 0)).encode() + b"\n" + b'{"time": 2, "process": 0, "type": "ok", "f": "r\xff"}\n')
    with pytest.raises(MalformedHistory) as e:
        read_history(p)
    assert e.value.location == f"{p}:2" and "UTF-8" in e.value.message


@pytest.mark.parametrize("depth, ok", [(100, True), (101, False), (5000, False)])
def test_value_nesting_is_bounded(tmp_path, depth, ok):
    nested = "[" * depth + "1" + "]" * depth  # a list nested `depth` levels deep
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(inv(1, 0, "write", 0)).replace('"value": 0', f'"value": {nested}') + "\n")
    if ok:
        assert len(read_history(p)) == 1
    else:
        with pytest.raises(MalformedHistory) as e:
            read_history(p)
        assert e.value.location == f"{p}:1" and "nest" in e.value.message


def test_two_values_on_a_line_is_an_error(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(inv(1, 0)) + " " + json.dumps(inv(2, 1)) + "\n")
    with pytest.raises(MalformedHistory, match="extra data"):
        read_history(p)


def test_ops_stay_immutable_and_equal_by_value():
    a = Op(0, 1, 2, "invoke", "write", [1], key="k")
    with pytest.raises(Exception):
        a.value = 3  # type: ignore[misc]
    assert a == Op(0, 1, 2, "invoke", "write", [1], None, "k", None) and a.key == "k" and a.error is None


def test_canonical_line_fast_path_reads_what_the_json_parser_reads(tmp_path, monkeypatch):
    import re

    from splitbrain.history import ops as history

    p = tmp_path / "h.jsonl"
    values = [None, 0, -7, 123456789012345678901234, "", "x 0 0 y", 'q"uote', "back\\slash", "tab\there", "ünï",
              [1, 2], {"a": [None]}, True, 1.5]
    with HistoryWriter(p) as w:
        for i, v in enumerate(values):
            w.record(i, "invoke", "write", v, node="n1" if i % 2 else None, key=[None, "k", 3, 'k"'][i % 4])
            w.record(i, ["ok", "fail", "info"][i % 3], "write", v, error="timeout" if i % 3 == 2 else None)
        w.record("nemesis", "invoke", "start", {"n1": ["n2"]})
    fast = read_history(p)
    assert sum(1 for line in p.read_text().splitlines() if history._CANONICAL_LINE.fullmatch(line + "\n")) > 10
    monkeypatch.setattr(history, "_CANONICAL_LINE", re.compile(r"(?!)"))
    assert read_history(p) == fast and fast[1].value is None and fast[-1].process == "nemesis"


@pytest.mark.parametrize("line", [
    '{"index":007,"time":1,"process":0,"type":"invoke","f":"read","value":null}',
    '{"index":0,"time":01,"process":0,"type":"invoke","f":"read","value":null}',
    '{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":"a\tb"}',
    '{"index":0,"time":1,"process":0,"type":"invoke","f":"read","value":null}x',
])
def test_canonical_fast_path_is_as_strict_as_json(tmp_path, line):
    p = tmp_path / "h.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(MalformedHistory, match="bad JSON"):
        read_history(p)


def test_make_op_gives_an_ordinary_immutable_op():
    import pickle

    from splitbrain.history.ops import make_op

    a = make_op(3, 4, 1, "ok", "read", [1], "n1", "k", None)
    b = Op(3, 4, 1, "ok", "read", [1], "n1", "k", None)
    assert type(a) is Op and a == b and hash(make_op(1, 2, 3, "ok", "f")) == hash(Op(1, 2, 3, "ok", "f"))
    assert pickle.loads(pickle.dumps(a)) == b and a.to_json() == b.to_json()
    with pytest.raises(Exception):
        a.index = 9  # type: ignore[misc]
