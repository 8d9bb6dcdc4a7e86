"""Every shape of Jepsen/Knossos EDN history reads to the same ops: one map per line, a vector of maps, maps
pretty-printed over several lines, ``;`` comments, record tags, keywords or strings; ``--format auto`` tells them
apart; malformed EDN is one sentence naming file:line; nil reads are unconstrained in EDN imports only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.checkers.models import get_model, parse_initial_value, with_initial_value
from splitbrain.history.errors import BadInput, MalformedHistory
from splitbrain.history.ops import Op, read_history
from splitbrain.history.importers import detect_format, drop_nil_reads, load_history, read_any, read_edn_history

DATA = Path(__file__).resolve().parent / "data" / "edn"


# --- rendering one history in every shape -----------------------------------------------------------------------

def _edn(v) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string with only \" and \\ escapes is an EDN string
    if isinstance(v, list):
        return "[" + " ".join(_edn(x) for x in v) + "]"
    return str(v)


def _entries(op: dict, strings: bool) -> list[tuple[str, str]]:
    kw = (lambda s: json.dumps(s)) if strings else (lambda s: ":" + s)
    out = [("process", str(op["process"])), ("type", kw(op["type"])), ("f", kw(op["f"])),
           ("value", _edn(op["value"]))]
    if op.get("key") is not None:
        out.append(("key", _edn(op["key"])))
    if op.get("time") is not None:
        out.append(("time", str(op["time"])))
        out.append(("index", str(op["index"])))
    return out


def render(ops: list[dict], shape: str, strings: bool = False) -> str:
    maps = []
    for i, op in enumerate(ops):
        e = _entries(op, strings and i % 2 == 1)
        if shape == "multiline":
            body = ",\n  ".join(f":{k} {v}" for k, v in e)
            tag = "#jepsen.history.Op" if i % 3 == 0 else ""
            maps.append(f"{tag}{{{body}}}" + (" ; a comment [with {brackets}\n" if i % 2 else ""))
        else:
            maps.append("{" + ", ".join(f":{k} {v}" for k, v in e) + "}")
    if shape == "lines":
        return "; written by a test\n" + "\n".join(maps) + "\n"
    if shape == "vector":
        return "[" + "\n ".join(maps) + "]\n"
    return ";; pretty\n[" + "\n ".join(maps) + "\n]\n"


@st.composite
def histories(draw):
    """A small valid register/kv history as dicts (time present for all ops or for none)."""
    n = draw(st.integers(1, 6))
    timed = draw(st.booleans())
    values = st.one_of(st.none(), st.integers(-5, 5), st.text("ab ;[]{}\"\\x", max_size=5),
                       st.lists(st.integers(0, 3), max_size=3))
    ops, pending = [], {}
    for _ in range(n * 2):
        p = draw(st.integers(0, 2))
        if p in pending:
            f, v = pending.pop(p)
            ty = draw(st.sampled_from(["ok", "fail"]))
            ops.append({"process": p, "type": ty, "f": f, "value": draw(values) if f == "read" else v})
        else:
            f = draw(st.sampled_from(["read", "write", "cas"]))
            v = None if f == "read" else draw(values)
            pending[p] = (f, v)
            ops.append({"process": p, "type": "invoke", "f": f, "value": v})
        if draw(st.booleans()):
            ops[-1]["key"] = draw(st.sampled_from(["k1", "k2"]))
    for i, op in enumerate(ops):
        if timed:
            op["time"], op["index"] = 10 * i, i
    return ops


def _as_jsonl(tmp_path, ops) -> list[Op]:
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps({k: v for k, v in {**op, "time": op.get("time", i)}.items()
                                     if k != "index"}) + "\n" for i, op in enumerate(ops)))
    return read_history(p)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=histories(), shape=st.sampled_from(["lines", "vector", "multiline"]), strings=st.booleans())
def test_every_shape_reads_to_the_same_ops(tmp_path, ops, shape, strings):
    p = tmp_path / f"h-{shape}.edn"
    p.write_text(render(ops, shape, strings))
    assert detect_format(p) == "edn"
    got = read_edn_history(p, nil_reads_unconstrained=False)
    assert got == _as_jsonl(tmp_path, ops)


@pytest.mark.parametrize("name", ["vector-knossos.edn", "multiline.edn", "per-line-strings.edn"])
def test_shipped_shapes_are_detected_and_read(name):
    loaded = read_any(DATA / name)
    assert loaded.format == "edn" and loaded.ops and loaded.ops[0].type == "invoke"


def test_multiline_file_keeps_times_tags_and_string_types():
    ops = load_history(DATA / "multiline.edn")
    assert [(o.time, o.type, o.f, o.value) for o in ops] == [
        (1000, "invoke", "write", 3), (2000, "ok", "write", 3), (3000, "invoke", "read", None),
        (4000, "ok", "read", 3)]


def test_strings_with_brackets_and_semicolons_stay_values():
    ops = load_history(DATA / "per-line-strings.edn")
    assert ops[0].value == "a;b [c] {d}" and ops[3].value == "a;b [c] {d}" and len(ops) == 4


def test_vector_with_comments_between_maps():
    ops = load_history(DATA / "vector-knossos.edn")
    assert len(ops) == 6 and ops[3].f == "cas" and ops[3].value == [3, 4]


def test_character_literals_and_discard_read(tmp_path):
    p = tmp_path / "c.edn"
    p.write_text('[{:process 0, :type :invoke, :f :write, :value \\]}\n'
                 ' #_ {:process 9, :type :invoke, :f :read}\n'
                 ' {:process 0, :type :ok, :f :write, :value \\]}]\n')
    ops = load_history(p)
    assert [(o.type, o.value) for o in ops] == [("invoke", "]"), ("ok", "]")]


MALFORMED_EDN = {
    "truncated vector": ('[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok,\n', 2,
                         "never closed"),
    "unclosed vector": ('[{:process 0, :type :invoke, :f :read, :value nil}\n', 1, "never closed"),
    "text between maps": ('{:process 0, :type :invoke, :f :read, :value nil}\n42\n', 2, "expected an EDN map"),
    "stray bracket": ('{:process 0, :type :invoke, :f :read, :value nil}\n}\n', 2, "unbalanced"),
    "bad map": ('{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0 :type}\n', 2, "bad EDN"),
    "missing f": ('{:process 0, :type :invoke, :value nil}\n', 1, "no :f"),
    "deep nesting": ('{:process 0, :type :invoke, :f :write, :value ' + "[" * 5000 + "]" * 5000 + '}\n', 1,
                     "nest"),
    "set at top": ('#{1 2}\n', 1, "expected an EDN map"),
    "huge number": ('{:process 0, :type :invoke, :f :write, :value ' + "9" * 5000 + '}\n', 1, "bad EDN"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_EDN))
def test_malformed_edn_names_file_and_line(tmp_path, case):
    text, line, words = MALFORMED_EDN[case]
    p = tmp_path / "bad.edn"
    p.write_text(text)
    with pytest.raises(MalformedHistory) as e:
        load_history(p, "edn")
    assert e.value.location == f"{p}:{line}" and words in e.value.message


@pytest.mark.parametrize("text, fmt", [
    ('{"time": 0, "process": 0, "type": "invoke", "f": "read"}\n', "jsonl"),
    ('\n\n{:process 0, :type :invoke, :f :read}\n', "edn"),
    ('; comment\n;; more\n[\n  {:process 0,\n', "edn"),
    ('#jepsen.history.Op{:index 0}\n', "edn"),
    ('(\n{:type :invoke}\n', "edn"),
    ('INFO  jepsen.util - 1\t:invoke\t:read\tnil\n', "jepsen-log"),
    ('INFO  jepsen.core - Running test\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n', "jepsen-log"),
])
def test_format_detection(tmp_path, text, fmt):
    p = tmp_path / "h"
    p.write_text(text)
    assert detect_format(p) == fmt


@pytest.mark.parametrize("text, words", [("", "empty"), ("\n  \n", "empty"), ("; only a comment\n", "no ops"),
                                         ("hello\n", "can't tell")])
def test_undetectable_or_empty_files(tmp_path, text, words):
    p = tmp_path / "h"
    p.write_text(text)
    with pytest.raises(MalformedHistory, match=words):
        read_any(p)


# --- nil reads and the starting value -----------------------------------------------------------------------------

def test_nil_read_is_unconstrained_in_edn_only(tmp_path):
    # write 1 completes, then a read returns nil: impossible for a register starting at nil that holds 1 ... unless
    # the nil read means "no information", as in Knossos and Jepsen
    loaded = read_any(DATA / "nil-read.edn")
    assert loaded.nil_reads == 1 and len(loaded.ops) == 4
    assert check_linearizable(loaded.ops, "register")["valid"] is True
    strict = read_edn_history(DATA / "nil-read.edn", nil_reads_unconstrained=False)
    assert len(strict) == 6 and check_linearizable(strict, "register")["valid"] is False
    # the same history as our own JSON Lines keeps null as "unset": still invalid there
    p = tmp_path / "h.jsonl"
    p.write_text("".join(json.dumps({"time": op.time, "process": op.process, "type": op.type, "f": op.f,
                                     "value": op.value}) + "\n" for op in strict))
    assert check_linearizable(load_history(p), "register")["valid"] is False


def test_drop_nil_reads_keeps_other_ops_and_reindexes():
    ops = [Op(0, 0, 0, "invoke", "read"), Op(1, 1, 1, "invoke", "write", 2), Op(2, 2, 0, "ok", "read", None),
           Op(3, 3, 1, "ok", "write", 2), Op(4, 4, 0, "invoke", "read"), Op(5, 5, 0, "fail", "read", None),
           Op(6, 6, 2, "invoke", "read"), Op(7, 7, 2, "info", "read", None)]
    kept, n = drop_nil_reads(ops)
    assert n == 1
    assert [(o.index, o.time, o.process, o.type) for o in kept] == [
        (0, 1, 1, "invoke"), (1, 3, 1, "ok"), (2, 4, 0, "invoke"), (3, 5, 0, "fail"), (4, 6, 2, "invoke"),
        (5, 7, 2, "info")]


def test_initial_value_model():
    ops = load_history(DATA / "initial-zero.edn")
    assert check_linearizable(ops, "cas-register")["valid"] is False
    m = with_initial_value("cas-register", 0)
    r = check_linearizable(ops, m)
    assert r["valid"] is True and r["model"] == "cas-register starting at 0"
    assert m.init() == 0 and get_model("cas-register").init() is None  # the shared model is untouched
    assert with_initial_value("register", [1, 2]).init() == (1, 2)
    with pytest.raises(BadInput, match="--initial-value"):
        with_initial_value("kv", 0)


@pytest.mark.parametrize("text, value", [("0", 0), ("null", None), ('"a"', "a"), ("abc", "abc"), ("[1, 2]", [1, 2])])
def test_parse_initial_value(text, value):
    assert parse_initial_value(text) == value


def test_deeply_nested_initial_value_is_bad_input():
    with pytest.raises(BadInput):
        parse_initial_value("[" * 5000 + "]" * 5000)


def test_analyze_imports_a_knossos_vector_with_a_starting_value(tmp_path, capsys):
    from splitbrain.harness.commands.main import main

    def cli(*args):
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        return e.value.code, capsys.readouterr()

    run = tmp_path / "run"
    code, out = cli("analyze", DATA / "initial-zero.edn", "--model", "cas-register", "--initial-value", "0",
                    "--out", run, "--no-report")
    assert code == 0, out.err
    test = json.loads((run / "test.json").read_text())
    assert test["initial_value"] == 0 and test["format"] == "edn" and "--initial-value 0" in test["command"]
    results = json.loads((run / "results.json").read_text())
    assert results["results"]["linearizable"]["model"] == "cas-register starting at 0"
    code, out = cli("analyze", run, "--no-report")  # re-checking the stored run keeps the starting value
    assert code == 0, out.err
    code, out = cli("analyze", DATA / "initial-zero.edn", "--model", "cas-register", "--out", tmp_path / "r2",
                    "--no-report")
    assert code == 1  # without it, the first read of 0 is impossible
    code, out = cli("analyze", DATA / "nil-read.edn", "--model", "register", "--out", tmp_path / "r3", "--no-report")
    assert code == 0 and json.loads((tmp_path / "r3" / "test.json").read_text())["nil_reads_unconstrained"] == 1


_EDN_PIECES = st.sampled_from(["{", "}", "[", "]", "(", ")", '"', "\\", ";", "#_", "#{", "#tag", ":process 0",
                               ":type :invoke", ":type :ok", ":f :read", ":value", " nil", " 1", ",", "\n", " ",
                               '"x\\"y"', "9" * 30, "\t"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(_EDN_PIECES, max_size=40))
def test_any_edn_text_reads_or_is_malformed_history(tmp_path, pieces):
    p = tmp_path / "fuzz.edn"
    p.write_text("".join(pieces))
    try:
        ops = load_history(p, "edn")
    except MalformedHistory as e:
        assert e.location and str(p) in e.location
    else:
        assert all(isinstance(op, Op) for op in ops)
