"""corrupt: one file of a down node's data dir damaged (bits flipped, tail cut), recorded with file, offsets and
bytes, visible to the node when it starts again; through the real CLI on a local cluster."""

from __future__ import annotations

import glob
import json
import os
import random
import sys
from pathlib import Path

import pytest

from _cli import splitbrain, wait_for
from splitbrain.harness.hosts.resources import StateStore
from splitbrain.nemesis import FAULTS
from splitbrain.nemesis.corruption import choose_file, corrupt_file

ROOT = Path(__file__).resolve().parent.parent
WRITER = str(ROOT / "tests" / "data" / "fswriter.py")


def test_choose_file_is_pure_and_follows_the_patterns():
    names = ["wal.jsonl", "snapshot.json", "other.txt", "sub/wal.jsonl"]
    assert choose_file(names, ["wal.jsonl", "snapshot.json"], 0.0) == "snapshot.json"
    assert choose_file(names, ["wal.jsonl", "snapshot.json"], 0.99) == "wal.jsonl"
    assert choose_file(names, ["*.db"], 0.5) is None


def test_bitflip_changes_exactly_the_recorded_bytes(tmp_path):
    (tmp_path / "f").write_bytes(bytes(range(100)))
    r = corrupt_file(str(tmp_path), "f", "bitflip", random.Random(3), flips=5)
    data = (tmp_path / "f").read_bytes()
    assert len(data) == 100 and len(r["changes"]) == 5
    changed = {i for i in range(100) if data[i] != i}
    assert changed == {c["offset"] for c in r["changes"]}
    for c in r["changes"]:
        assert bin(int(c["before"], 16) ^ int(c["after"], 16)).count("1") == 1
        assert data[c["offset"]] == int(c["after"], 16)


def test_value_flips_a_digit_inside_text_so_the_record_still_parses(tmp_path):
    from splitbrain.nemesis.corruption import digit_offsets
    record = b'{"op": "add", "value": 40718, "client": "c9"}'
    blob = b"\x00\x07\x31\x35\x01" + record + b"\xff12\x00"  # digits in binary framing: never chosen
    (tmp_path / "f").write_bytes(blob)
    assert digit_offsets(blob) == [5 + record.index(b"4") + i for i in range(5)] + [5 + record.index(b"9")]
    for seed in range(20):
        (tmp_path / "f").write_bytes(blob)
        r = corrupt_file(str(tmp_path), "f", "value", random.Random(seed), flips=1)
        (c,) = r["changes"]
        data = (tmp_path / "f").read_bytes()
        assert int(c["before"], 16) ^ int(c["after"], 16) == 1 and chr(data[c["offset"]]).isdigit()
        assert data[:5] == blob[:5] and data[-4:] == blob[-4:]
        changed = json.loads(data[5:-4])
        assert changed != json.loads(record) and changed.keys() == json.loads(record).keys()


def test_value_without_any_text_digit_falls_back_to_a_bitflip(tmp_path):
    (tmp_path / "f").write_bytes(bytes(range(40)))
    r = corrupt_file(str(tmp_path), "f", "value", random.Random(1))
    assert len(r["changes"]) == 1 and "why" in r


def test_truncate_cuts_a_tail_and_never_leaves_the_data_dir(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 1000)
    r = corrupt_file(str(tmp_path), "f", "truncate", random.Random(1))
    assert (tmp_path / "f").stat().st_size == r["new_size"] < 1000 and r["new_size"] >= 500
    with pytest.raises(ValueError):
        corrupt_file(str(tmp_path), "../etc/passwd", "bitflip", random.Random(1))


def test_plans_are_pure():
    pkg = FAULTS["corrupt"]
    a, b = pkg.start_op(random.Random(2), ["n1", "n2", "n3"]), pkg.start_op(random.Random(2), ["n1", "n2", "n3"])
    assert a == b and json.loads(json.dumps(a.value)) == a.value and len(a.value["nodes"]) == 1




@pytest.mark.netns
@pytest.mark.timeout(120)
def test_corrupt_through_the_cli_is_recorded_and_seen_by_the_node(sb_state_dir, root_iptables_unchanged):
    from splitbrain.harness.hosts.local_cluster import attach

    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir), "PYTHONPATH": str(ROOT)}
    assert splitbrain("cluster", "up", "--nodes", "1", env=env).returncode == 0
    store = StateStore(sb_state_dir)
    run_id = store.current()
    try:
        c = attach(run_id)
        node_dir = c.node_dir("n1")
        c.kill("n1")
        c.start("n1", [sys.executable, WRITER])
        wait_for(lambda: os.path.exists(os.path.join(node_dir, "fswriter-ready")), 20, "the writer")
        reports = lambda: sorted(glob.glob(os.path.join(node_dir, "fswriter-report-*.json")), key=os.path.getmtime)
        original = b"durable\nnot fsynced\n"

        # echo declares no data files: without --file the fault refuses in one sentence
        out = splitbrain("nemesis", "corrupt", "n1", env=env)
        assert out.returncode == 254 and "data_files" in out.stderr and "Traceback" not in out.stderr

        out = splitbrain("nemesis", "corrupt", "n1", "--file", "synced.txt", "--flips", "3", "--seed", "5", env=env)
        assert out.returncode == 0, out.stderr
        done = json.loads(out.stdout.split(": ", 1)[1])
        rec = done["corrupted"][0]
        assert rec["file"] == "synced.txt" and rec["killed"] and done["restarted"] == ["n1"]
        assert [st["step"] for st in done["steps"]] == ["killed", "corrupted", "restarted"]
        assert done["steps"][1]["file"] == "synced.txt"
        expected = bytearray(original)
        for ch in rec["changes"]:
            assert expected[ch["offset"]] == int(ch["before"], 16)
            expected[ch["offset"]] = int(ch["after"], 16)
        wait_for(lambda: len(reports()) == 2, 20, "the restarted writer's report")
        seen = json.loads(Path(reports()[-1]).read_text())["seen"]
        assert bytes.fromhex(seen["synced.txt"]) == bytes(expected)

        out = splitbrain("nemesis", "corrupt", "n1", "--file", "*.txt", "--mode", "truncate", env=env)
        assert out.returncode == 0, out.stderr
        rec = json.loads(out.stdout.split(": ", 1)[1])["corrupted"][0]
        assert rec["mode"] == "truncate" and rec["new_size"] < rec["size"]
        wait_for(lambda: len(reports()) == 3, 20, "the writer's third report")
        seen = json.loads(Path(reports()[-1]).read_text())["seen"]
        assert len(bytes.fromhex(seen[rec["file"]])) == rec["new_size"]
    finally:
        down = splitbrain("cluster", "down", env=env)
    assert down.returncode == 0, down.stderr
