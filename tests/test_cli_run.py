"""The run/analyze/systems/workloads commands, without a cluster: importing histories, re-checking a stored run,
and bad input giving exit 254 with one sentence."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.harness.commands.main import main

from tests._paths import CORPUS


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_analyze_imports_a_jepsen_log_and_finds_it_invalid(tmp_path, capsys):
    src = CORPUS / "etcd" / "etcd_000.log"
    code, out, err = run_cli(["analyze", str(src), "--model", "cas-register", "--out", str(tmp_path / "run")],
                             capsys)
    assert code == 1, err
    assert "verdict: INVALID" in out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["results"]["linearizable"]["valid"] is False
    assert (tmp_path / "run" / "history.jsonl").exists()
    assert (tmp_path / "run" / "report.html").exists()
    test = json.loads((tmp_path / "run" / "test.json").read_text())
    assert test["model"] == "cas-register"


def test_analyze_rechecks_a_stored_run(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, _ = run_cli(["analyze", str(CORPUS / "kv" / "c01-ok.txt"), "--model", "kv", "--out", str(run),
                          "--no-report"], capsys)
    assert code == 0
    (run / "results.json").unlink()
    code, out, _ = run_cli(["analyze", str(run), "--no-report"], capsys)
    assert code == 0 and "verdict: valid" in out
    assert json.loads((run / "results.json").read_text())["valid"] is True


@pytest.mark.parametrize("args, needle", [
    (["analyze", "/nonexistent/file"], "no such file"),
    (["analyze", "{corpus}/etcd/etcd_000.log"], "needs --model and --out"),
    (["analyze", "{corpus}/etcd/etcd_000.log", "--model", "nope", "--out", "{tmp}/o"], "unknown model"),
    (["run", "--system", "nope", "--workload", "register"], "unknown system"),
    (["run", "--system", "quorum-kv", "--workload", "nope"], "unknown workload"),
    (["run", "--system", "quorum-kv", "--variant", "nope", "--workload", "register"], "no variant"),
    (["run", "--system", "quorum-kv", "--workload", "register", "--nemesis", "partition,bogus"], "unknown fault"),
    (["run", "--system", "quorum-kv", "--workload", "register", "--nodes", "0"], "--nodes"),
    (["run", "--system", "quorum-kv", "--workload", "register", "--time-limit", "-1"], "--time-limit"),
    (["run", "--system", "quorum-kv", "--workload", "register", "--option", "novalue"], "KEY=VALUE"),
    (["run", "--system", "quorum-kv", "--workload", "register", "--test-name", "../evil"], "test name"),
    (["frobnicate"], "No such command"),
])
def test_bad_input_is_one_sentence_and_exit_254(args, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPLITBRAIN_STATE_DIR", str(tmp_path / "state"))
    args = [a.format(corpus=CORPUS, tmp=tmp_path) for a in args]
    code, out, err = run_cli(args + (["--store", str(tmp_path / "store")] if args[0] == "run" else []), capsys)
    assert code == 254, (out, err)
    assert needle in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_systems_and_workloads_are_listed(capsys):
    code, out, _ = run_cli(["systems"], capsys)
    assert code == 0
    for name in ("quorum-kv", "raft-kv", "crdt-store"):
        assert name in out
    assert "r1w1" in out and "stale-read" in out
    code, out, _ = run_cli(["workloads"], capsys)
    assert code == 0 and "register" in out and "counter" in out


def test_console_script_is_installed():
    exe = shutil.which("splitbrain") or str(Path(sys.executable).parent / "splitbrain")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "splitbrain" in r.stdout
