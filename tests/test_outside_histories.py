"""Histories in the shapes other tools write, generated here (never downloaded), through the real ``check`` CLI:
each imports and gets the verdict a brute-force checker gives the same ops.

Shapes: Jepsen's ``history.edn`` (one map per line, nemesis ops with ``:process :nemesis``, ``:info`` completions
with nil values and an ``:error``, ``:time`` huge or absent, ``:index``), jepsen.independent ``[key value]``
tuples, Knossos' vector of pretty-printed maps with comments, string ``:type``/``:f``, ``jepsen.util`` logs,
Porcupine's kv test data, and JSON Lines from other tools (extra fields, unicode keys and values, big integers,
floats, nested values, process ids as strings, a byte-order mark, CRLF line ends). Values are mapped through a
bijection (keywords, strings, big integers, floats, nested maps), which keeps the verdict.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from test_brute_force import _perturb, brute_force, simulate

from splitbrain.history.ops import Op
from splitbrain.history.importers import drop_nil_reads

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "splitbrain"


def cli(capsys, *args):
    """``splitbrain ARGS`` in this process through the console script's own entry point (exit code, out, err)."""
    from splitbrain.harness.commands.main import main
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


# --- histories with a known verdict ---------------------------------------------------------------------------

def history(seed: int, n_ops: int, keys: int = 1) -> list[Op]:
    """A small cas-register history (per key: one simulated atomic register each), perturbed half the time so
    that it is often not linearizable. Keys' histories are interleaved at random; processes are distinct."""
    rng = random.Random(seed)
    parts = []
    offset = 0
    for k in range(keys):
        h = simulate(seed * 31 + k, "cas-register", n_ops, procs=3, p_info=0.15)
        if rng.random() < 0.5:
            h = _perturb(rng, h, "cas-register")
        procs = {op.process for op in h}
        parts.append([Op(0, 0, op.process + offset, op.type, op.f, op.value, key=k if keys > 1 else None,
                         error="timeout" if op.type == "info" else None) for op in h])
        offset += max(procs) + 1
    out: list[Op] = []
    while any(parts):
        part = rng.choice([p for p in parts if p])
        op = part.pop(0)
        out.append(Op(len(out), len(out), op.process, op.type, op.f, op.value, key=op.key, error=op.error))
    return out


def truth(ops: list[Op], nil_reads_unconstrained: bool) -> bool:
    """The verdict by brute force, key by key; EDN imports leave nil reads out (Knossos' models)."""
    if nil_reads_unconstrained:
        ops = drop_nil_reads(ops)[0]
    keys = {op.key for op in ops}
    return all(brute_force([op for op in ops if op.key == k], "cas-register") for k in keys)


# --- values as other tools write them -------------------------------------------------------------------------

# Each maps a small integer to a value of another kind, one to one (so the verdict is unchanged), given as
# (EDN text, JSON value).
VALUE_KINDS = {
    "int": (lambda v: str(v), lambda v: v),
    "keyword": (lambda v: f":v{v}", lambda v: f"v{v}"),
    "string": (lambda v: f'"é{v} ü"', lambda v: f"é{v} ü"),
    "bigint": (lambda v: str(10 ** 25 + v), lambda v: 10 ** 25 + v),
    "float": (lambda v: f"{v}.5", lambda v: v + 0.5),
    "nested": (lambda v: f'{{:a [{v} "x"]}}', lambda v: {"a": [v, "x"]}),
}


def _edn_value(v, kind: str) -> str:
    if v is None:
        return "nil"
    if isinstance(v, list):
        return "[" + " ".join(_edn_value(x, kind) for x in v) + "]"
    return VALUE_KINDS[kind][0](v)


def _json_value(v, kind: str):
    if v is None or kind not in VALUE_KINDS:
        return v
    if isinstance(v, list):
        return [_json_value(x, kind) for x in v]
    return VALUE_KINDS[kind][1](v)


# --- rendering in other tools' shapes -------------------------------------------------------------------------

NEMESIS_EDN = ['{:type :info, :f :start-partition, :value nil, :process :nemesis, :time T}',
               '{:type :info, :f :start-partition, :value [:isolated {"n1" #{"n2" "n3"}}], :process :nemesis, '
               ':time T}']


def jepsen_edn(ops: list[Op], kind: str, *, timed: str, independent: bool, strings: bool) -> str:
    """Jepsen's history.edn: one map per line, nemesis ops between, ``:time`` huge/plain/absent, ``:index``."""
    lines = ["; a Jepsen history"]
    kw = (lambda s: f'"{s}"') if strings else (lambda s: f":{s}")
    for op in ops:
        value = _edn_value(op.value, kind)
        if independent:
            value = f"[{op.key} {value}]" if not (op.type == "info" and op.value is None) else "nil"
        fields = [f":type {kw(op.type)}", f":f {kw(op.f)}", f":value {value}", f":process {op.process}"]
        if op.error:
            fields.append(f":error :{op.error}")
        if not independent and op.key is not None:
            fields.append(f":key {op.key}")
        t = {"huge": 10 ** 22 + op.index * 1000, "plain": op.index * 1000}.get(timed)
        if t is not None:
            fields += [f":time {t}", f":index {op.index}"]
        lines.append("{" + ", ".join(fields) + "}")
        if op.index % 4 == 1:
            nemesis = NEMESIS_EDN[op.index % 8 // 4]
            lines.append(nemesis.replace(", :time T", "") if t is None else nemesis.replace(":time T", f":time {t}"))
    return "\n".join(lines) + "\n"


def knossos_vector(ops: list[Op], kind: str) -> str:
    """Knossos' test histories: one vector of maps, each pretty-printed over several lines, with comments."""
    maps = []
    for op in ops:
        body = [f":process {op.process}", f":type :{op.type}", f":f :{op.f}", f":value {_edn_value(op.value, kind)}"]
        if op.key is not None:
            body.append(f":key {op.key}")
        maps.append("{" + ",\n   ".join(body) + "}" + ("  ; a comment with [brackets} and \"quotes" if op.index % 3
                                                        else ""))
    return ";; knossos\n[" + "\n ".join(maps) + "\n]\n"


def jepsen_log(ops: list[Op], kind: str) -> str:
    """``jepsen.util`` log lines (Porcupine's etcd data), with other loggers' lines between."""
    lines = ["INFO  jepsen.core - Running test"]
    for op in ops:
        value = ":timed-out" if op.type == "info" else _edn_value(op.value, kind)
        proc = op.process if op.key is None else op.process
        sep = "\t" if op.index % 2 else "  "
        lines.append(f"INFO  jepsen.util - {proc}{sep}:{op.type}{sep}:{op.f}{sep}{value}")
    return "\n".join(lines) + "\n"


def other_jsonl(ops: list[Op], kind: str, *, bom: bool, crlf: bool) -> bytes:
    """JSON Lines from another tool: extra fields (unicode names, nested), process ids as strings, no index."""
    lines = []
    for op in ops:
        d = {"process": str(op.process) if op.index % 2 else op.process, "type": op.type, "f": op.f,
             "time": op.index * 1000, "value": _json_value(op.value, kind), "trace-id": f"ü-{op.index}",
             "métadonnées": {"nested": [1, {"x": None}]}}
        if op.key is not None:
            d["key"] = f"clé-{op.key}"
        if op.error:
            d["error"] = op.error
        lines.append(json.dumps(d, ensure_ascii=op.index % 3 == 0))
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def _verdict(code: int, out: str) -> bool:
    assert code in (0, 1), out
    return code == 0


# --- the tests ------------------------------------------------------------------------------------------------

SMALL = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(**SMALL)
@given(seed=st.integers(0, 10 ** 6), n=st.integers(2, 7), keys=st.integers(1, 2),
       kind=st.sampled_from(sorted(VALUE_KINDS)), timed=st.sampled_from(["huge", "plain", "absent"]),
       strings=st.booleans())
def test_jepsen_edn_lines_get_the_brute_force_verdict(tmp_path, capsys, seed, n, keys, kind, timed, strings):
    ops = history(seed, n, keys)
    p = tmp_path / "history.edn"
    p.write_text(jepsen_edn(ops, kind, timed=timed, independent=False, strings=strings))
    code, out, err = cli(capsys, "check", p, "--model", "cas-register")
    assert _verdict(code, out + err) == truth(ops, True), p.read_text()


@settings(**SMALL)
@given(seed=st.integers(0, 10 ** 6), n=st.integers(2, 6), keys=st.integers(2, 3),
       kind=st.sampled_from(["int", "keyword", "string"]))
def test_jepsen_independent_tuples_are_checked_key_by_key(tmp_path, capsys, seed, n, keys, kind):
    ops = history(seed, n, keys)
    p = tmp_path / "independent.edn"
    p.write_text(jepsen_edn(ops, kind, timed="plain", independent=True, strings=False))
    code, out, err = cli(capsys, "check", p, "--model", "cas-register")
    assert _verdict(code, out + err) == truth(ops, True), p.read_text()
    if any(op.f in ("read", "cas") and op.type == "invoke" for op in ops):
        assert "jepsen.independent" in out


@settings(**SMALL)
@given(seed=st.integers(0, 10 ** 6), n=st.integers(2, 7), keys=st.integers(1, 2),
       kind=st.sampled_from(sorted(VALUE_KINDS)))
def test_knossos_vectors_get_the_brute_force_verdict(tmp_path, capsys, seed, n, keys, kind):
    ops = history(seed, n, keys)
    p = tmp_path / "knossos.edn"
    p.write_text(knossos_vector(ops, kind))
    code, out, err = cli(capsys, "check", p, "--model", "cas-register")
    assert _verdict(code, out + err) == truth(ops, True), p.read_text()


@settings(**SMALL)
@given(seed=st.integers(0, 10 ** 6), n=st.integers(2, 7), kind=st.sampled_from(["int", "keyword", "string"]))
def test_jepsen_logs_get_the_brute_force_verdict(tmp_path, capsys, seed, n, kind):
    ops = history(seed, n, 1)
    p = tmp_path / "jepsen.log"
    p.write_text(jepsen_log(ops, kind))
    code, out, err = cli(capsys, "check", p, "--model", "cas-register")
    assert _verdict(code, out + err) == truth(ops, False), p.read_text()  # nil reads count in logs


@settings(**SMALL)
@given(seed=st.integers(0, 10 ** 6), n=st.integers(2, 7), keys=st.integers(1, 2),
       kind=st.sampled_from(sorted(VALUE_KINDS)), bom=st.booleans(), crlf=st.booleans())
def test_other_tools_json_lines_get_the_brute_force_verdict(tmp_path, capsys, caplog, seed, n, keys, kind, bom,
                                                            crlf):
    caplog.clear()
    ops = history(seed, n, keys)
    p = tmp_path / "other.jsonl"
    p.write_bytes(other_jsonl(ops, kind, bom=bom, crlf=crlf))
    code, out, err = cli(capsys, "check", p, "--model", "cas-register")
    assert _verdict(code, out + err) == truth(ops, False), p.read_text(encoding="utf-8-sig")
    warnings = [r.getMessage() for r in caplog.records if "ignored field(s)" in r.getMessage()]
    assert len(warnings) == 1 and "'trace-id' (first on line 1)" in warnings[0]  # extra fields: named, once


def porcupine_kv(ops: list[Op]) -> str:
    """Porcupine's kv test data: ``{:process 0, :type :invoke, :f :append, :key "8", :value "x 0 0 y"}``."""
    def val(v):
        return "nil" if v is None else json.dumps(v)
    return "".join(f'{{:process {op.process}, :type :{op.type}, :f :{op.f}, :key "{op.key}", :value {val(op.value)}}}\n'
                   for op in ops)


@settings(**SMALL)
@given(seed=st.integers(0, 10 ** 6), n=st.integers(2, 8), perturb=st.booleans())
def test_porcupine_kv_files_get_the_brute_force_verdict(tmp_path, capsys, seed, n, perturb):
    ops = simulate(seed, "kv", n, procs=3, p_info=0.0, p_fail=0.0, p_unfinished=0.0, kv_ops=("get", "put", "append"))
    if perturb:
        ops = _perturb(random.Random(seed), ops, "kv")
    p = tmp_path / "c03.txt"
    p.write_text(porcupine_kv(ops))
    code, out, err = cli(capsys, "check", p, "--model", "kv")
    # Porcupine's kv gets never return nil (a missing key is ""), so no read is left out.
    assert _verdict(code, out + err) == brute_force(ops, "kv"), p.read_text()


def test_independent_history_mixing_keys_is_judged_per_key(tmp_path, capsys):
    """Two registers, each linearizable alone; checked as one object they would not be."""
    p = tmp_path / "two-keys.edn"
    p.write_text('{:type :invoke, :f :write, :value [0 1], :process 0}\n'
                 '{:type :ok, :f :write, :value [0 1], :process 0}\n'
                 '{:type :invoke, :f :write, :value [1 2], :process 0}\n'
                 '{:type :ok, :f :write, :value [1 2], :process 0}\n'
                 '{:type :invoke, :f :read, :value [0 nil], :process 1}\n'
                 '{:type :ok, :f :read, :value [0 1], :process 1}\n'
                 '{:type :invoke, :f :cas, :value [1 [2 3]], :process 1}\n'
                 '{:type :info, :f :cas, :value nil, :process 1, :error :timeout}\n')
    code, out, _ = cli(capsys, "check", p, "--model", "cas-register", "--json")
    result = json.loads(out)
    assert code == 0 and result["valid"] is True and result["independent_keys"] is True
    assert result["partitions"] == 2
    p.write_text(p.read_text().replace(":value [0 1], :process 1}", ":value [0 2], :process 1}"))
    code, out, _ = cli(capsys, "check", p, "--model", "cas-register", "--json")
    assert code == 1 and json.loads(out)["failure"]["key"] == 0


def test_a_plain_cas_history_is_not_taken_for_independent(tmp_path, capsys):
    """A cas value ``[1 2]`` looks like a tuple; plain reads invoked with nil tell the shapes apart."""
    p = tmp_path / "plain.edn"
    p.write_text('{:type :invoke, :f :write, :value 1, :process 0}\n{:type :ok, :f :write, :value 1, :process 0}\n'
                 '{:type :invoke, :f :cas, :value [1 2], :process 0}\n{:type :ok, :f :cas, :value [1 2], :process 0}\n'
                 '{:type :invoke, :f :read, :value nil, :process 0}\n{:type :ok, :f :read, :value 2, :process 0}\n')
    code, out, _ = cli(capsys, "check", p, "--model", "cas-register")
    assert code == 0 and "independent" not in out


def test_nan_is_not_json(tmp_path, capsys):
    p = tmp_path / "nan.jsonl"
    p.write_text('{"time":0,"process":0,"type":"invoke","f":"write","value":NaN}\n'
                 '{"time":1,"process":0,"type":"ok","f":"write","value":NaN}\n')
    code, _, err = cli(capsys, "check", p, "--model", "register")
    assert code == 254 and f"{p}:1: bad JSON (NaN is not a JSON number)" in err


def test_a_batch_of_every_shape_through_the_console_script(tmp_path):
    """The installed console script on one file of each shape plus a bad one in the middle: every good file gets
    its verdict line, the bad one its sentence, no traceback."""
    ops = history(7, 6, 2)
    files = {"a.edn": jepsen_edn(ops, "keyword", timed="huge", independent=False, strings=False),
             "b.edn": jepsen_edn(ops, "int", timed="plain", independent=True, strings=True),
             "c.edn": knossos_vector(ops, "nested"), "bad.edn": "{:process 0, :type :invoke\n",
             "d.log": jepsen_log(history(8, 6, 1), "int")}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "e.jsonl").write_bytes(other_jsonl(ops, "bigint", bom=True, crlf=True))
    names = ["a.edn", "b.edn", "bad.edn", "c.edn", "d.log", "e.jsonl"]
    r = subprocess.run([str(EXE), "check", *names, "--model", "cas-register"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert "Traceback" not in r.stderr
    assert "e.jsonl: ignored field(s) that are not in the history format: 'métadonnées'" in r.stderr
    assert "bad.edn:1: the op map starting here is never closed" in r.stderr
    for name in names:
        assert any(line.startswith(name + "  ") for line in r.stdout.splitlines()), r.stdout
    assert r.returncode in (1, 254)


@pytest.mark.parametrize("name, text", [
    ("lone.jsonl", '{"time":0,"process":0,"type":"invoke","f":"write","value":"\\ud800x"}\n'),
    ("lone.edn", '{:process 0, :type :invoke, :f :write, :value "\\ud800x"}\n'),
    ("lone.log", 'INFO  jepsen.util - 0\t:invoke\t:write\t"\\udfff"\n'),
])
def test_a_lone_surrogate_is_bad_input_not_a_crash_later(tmp_path, capsys, name, text):
    """JSON and EDN escapes can name half a UTF-16 pair, which no UTF-8 file can hold: analyze used to read it and
    then crash writing the run's history."""
    p = tmp_path / name
    p.write_text(text)
    for args in (("check", p, "--model", "register"), ("analyze", p, "--model", "register", "--out",
                                                       tmp_path / "run", "--no-report")):
        code, _, err = cli(capsys, *args)
        assert code == 254 and f"{p}:1: a string holds a lone UTF-16 surrogate" in err, err
        assert "Traceback" not in err


def test_an_escaped_surrogate_pair_is_one_character(tmp_path, capsys):
    p = tmp_path / "emoji.jsonl"
    p.write_text('{"time":0,"process":0,"type":"invoke","f":"write","value":"\\ud83d\\ude00"}\n'
                 '{"time":1,"process":0,"type":"ok","f":"write","value":"\\ud83d\\ude00"}\n')
    code, out, err = cli(capsys, "analyze", p, "--model", "register", "--out", tmp_path / "run", "--no-report")
    assert code == 0, err
    assert "\U0001F600" in (tmp_path / "run" / "history.jsonl").read_text(encoding="utf-8")


def test_a_form_feed_inside_a_jepsen_log_value_is_no_line_end(tmp_path, capsys):
    p = tmp_path / "ff.log"
    p.write_text('INFO  jepsen.util - 0\t:invoke\t:write\t"a\x0cb"\r\nINFO  jepsen.util - 0\t:ok\t:write\t"a\x0cb"\r\n'
                 'INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t"a\x0cb"\n')
    code, out, err = cli(capsys, "check", p, "--model", "register")
    assert code == 0 and "valid  2 ops" in out, err
