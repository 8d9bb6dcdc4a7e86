"""Valid histories of every outside shape, mutated at random (truncated, garbage lines, wrong types, missing
fields, emptied, a byte-order mark, CRLF line ends, binary bytes, deep nesting), through the ``check`` CLI in a
batch with a good file after the bad one: the exit code is a verdict or 254, never 1/255 for bad input alone; a bad
file is one sentence naming it (and its line where there is one), never a traceback; the good file is still
checked. A BOM or CRLF line ends change nothing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from test_outside_histories import cli, history, jepsen_edn, jepsen_log, knossos_vector, other_jsonl, porcupine_kv
from test_brute_force import simulate

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "splitbrain"


def _valid_files() -> dict[str, bytes]:
    ops = history(3, 6, 2)
    return {
        "jepsen.edn": jepsen_edn(ops, "keyword", timed="plain", independent=False, strings=False).encode(),
        "independent.edn": jepsen_edn(ops, "int", timed="absent", independent=True, strings=True).encode(),
        "knossos.edn": knossos_vector(ops, "nested").encode(),
        "etcd.log": jepsen_log(history(4, 6, 1), "int").encode(),
        "porcupine.txt": porcupine_kv(simulate(5, "kv", 8, p_info=0, p_fail=0, p_unfinished=0,
                                               kv_ops=("get", "put", "append"))).encode(),
        "other.jsonl": other_jsonl(ops, "string", bom=False, crlf=False),
    }


VALID = _valid_files()
GARBAGE = [b"garbage", b"{", b"}", b"[", b"]]]", b'"', b"\\", b"#_", b"#{", b"nil", b"{:process}",
           b'{"process": 0}', b"\x00\x01\xff\xfe", b"\xc3", b"{:process 0, :type :nope, :f :read}",
           b'{"time": -1, "process": 0, "type": "invoke", "f": "read"}', b"INFO  jepsen.util - x :y :z",
           b"[1, 2]", b"\t", b"\r", b";", b"9" * 40, "é".encode(), "\u2028".encode(), b"\x0c",
           b'{"time": 0, "process": 0, "type": "invoke", "f": "write", "value": "\\ud800"}',
           b'{:process 0, :type :invoke, :f :write, :value "\\udfff"}', b"INFO  jepsen.util - 0\t:invoke\t:write\t[1"]
WRONG_TYPES = [(rb":process \d+", [b':process "x"', b":process [1]", b":process nil", b":process 1.5"]),
               (rb":type :\w+", [b":type :weird", b":type 3", b":type nil"]),
               (rb":f :\w+", [b":f 3", b":f nil", b":f [1]"]),
               (rb'"process": "?\d+"?', [b'"process": true', b'"process": [0]', b'"process": {"a": 1}']),
               (rb'"time": \d+', [b'"time": -3', b'"time": 1.5', b'"time": "now"', b'"time": null']),
               (rb'"type": "\w+"', [b'"type": 1', b'"type": "begun"'])]


# Where a value is: EDN and JSON maps, and a jepsen.util line's last column.
_VALUE_AT = rb"(:value |\"value\": |\s:write\s)[^,}\n]+"


@st.composite
def mutated(draw):
    """(file name, original bytes, mutated bytes, what was done)."""
    name = draw(st.sampled_from(sorted(VALID)))
    data = VALID[name]
    kind = draw(st.sampled_from(["truncate", "garbage", "wrong-type", "drop-field", "empty", "bom", "crlf",
                                 "binary", "nest"]))
    lines = data.split(b"\n")
    if kind == "truncate":
        out = data[:draw(st.integers(0, len(data) - 1))]
    elif kind == "garbage":
        i = draw(st.integers(0, len(lines)))
        out = b"\n".join(lines[:i] + [draw(st.sampled_from(GARBAGE))] + lines[i:])
    elif kind == "wrong-type":
        pat, subs = draw(st.sampled_from(WRONG_TYPES))
        hits = list(re.finditer(pat, data))
        if not hits:
            out = data
        else:
            m = hits[draw(st.integers(0, len(hits) - 1))]
            out = data[:m.start()] + draw(st.sampled_from(subs)) + data[m.end():]
    elif kind == "drop-field":
        i = draw(st.integers(0, len(lines) - 1))
        field = draw(st.sampled_from([rb":process \S+", rb":type \S+", rb":f \S+", rb'"process": \S+',
                                      rb'"type": \S+', rb'"f": \S+', rb'"time": \S+']))
        lines[i] = re.sub(field, b"", lines[i], count=1)
        out = b"\n".join(lines)
    elif kind == "empty":
        out = draw(st.sampled_from([b"", b"\n\n", b"   \n", b"; only a comment\n", b"\xef\xbb\xbf", b"[]", b"[\n]\n"]))
    elif kind == "bom":
        out = b"\xef\xbb\xbf" + data
    elif kind == "crlf":
        out = data.replace(b"\n", b"\r\n")
    elif kind == "binary":
        pos = draw(st.integers(0, len(data)))
        out = data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]
    else:
        depth = draw(st.sampled_from([50, 101, 1000, 5000]))
        value = b"[" * depth + b"1" + b"]" * depth
        out = re.sub(_VALUE_AT, lambda m: m.group(1) + value, data, count=1)
    return name, data, out, kind


MODEL = {"porcupine.txt": "kv"}


def _verdict_code(capsys, path: Path, model: str) -> int:
    code, _, _ = cli(capsys, "check", path, "--model", model)
    return code


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(case=mutated())
def test_mutated_files_are_bad_input_or_a_verdict_and_the_batch_goes_on(tmp_path, capsys, case):
    name, original, data, kind = case
    model = MODEL.get(name, "cas-register")
    bad = tmp_path / f"mutated-{name}"
    bad.write_bytes(data)
    good = tmp_path / f"good-{name}"
    good.write_bytes(original)
    code, out, err = cli(capsys, "check", bad, good, "--model", model)
    assert "Traceback" not in err and "internal error" not in err, err
    good_lines = [ln for ln in out.splitlines() if ln.startswith(f"{good}  ")]
    assert len(good_lines) == 1 and "UNREADABLE" not in good_lines[0], out
    bad_lines = [ln for ln in out.splitlines() if ln.startswith(f"{bad}  ")]
    assert len(bad_lines) == 1, out
    good_code = _verdict_code(capsys, good, model)
    if "UNREADABLE" in bad_lines[0]:
        sentences = [ln for ln in err.splitlines() if ln.startswith(f"splitbrain: {bad}")]
        assert len(sentences) == 1, err
        assert re.match(rf"splitbrain: {re.escape(str(bad))}(:\d+)?: \S", sentences[0]), sentences[0]
        assert "\n" not in sentences[0]
        assert code == (1 if good_code == 1 else 254)
    else:
        assert code in (0, 1, 2)
    if kind in ("bom", "crlf"):  # neither changes what the file says
        assert "UNREADABLE" not in bad_lines[0], (err, out)
        assert _verdict_code(capsys, bad, model) == good_code


@pytest.mark.parametrize("name", sorted(VALID))
def test_deep_nesting_through_the_console_script(tmp_path, name):
    """5,000 levels of nesting in a value: one sentence and 254 from the installed script, no RecursionError."""
    data = VALID[name]
    deep = b"[" * 5000 + b"1" + b"]" * 5000
    p = tmp_path / name
    p.write_bytes(re.sub(_VALUE_AT, lambda m: m.group(1) + deep, data, count=1))
    assert p.read_bytes() != data
    r = subprocess.run([str(EXE), "check", str(p), "--model", MODEL.get(name, "cas-register")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 254, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Recursion" not in r.stderr
    assert re.search(rf"{re.escape(str(p))}:\d+: .*(deep|nested)", r.stderr), r.stderr
