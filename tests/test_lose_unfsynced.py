"""lose-unfsynced: the lazy file system (nemesis/lazyfs.py) keeps only what was fsynced, and the fault through the
real CLI drops the rest on a node, restarts it on what was durable, and leaves no mount or process behind."""

from __future__ import annotations

import glob
import json
import os
import sys
from pathlib import Path

import pytest

from _cli import splitbrain, wait_for
from splitbrain.harness.hosts.resources import StateStore, process_is
from splitbrain.nemesis.lazyfs import Dirty

ROOT = Path(__file__).resolve().parent.parent
WRITER = str(ROOT / "tests" / "data" / "fswriter.py")


def test_dirty_file_reads_writes_and_truncates_like_a_file(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    fd = os.open(p, os.O_RDWR)
    try:
        d = Dirty(10)
        d.write(8, b"abcd")
        d.truncate(9)
        d.write(12, b"Z")
        assert d.size == 13
        assert d.read(fd, 100, 0) == b"01234567a\0\0\0Z"
        assert d.read(fd, 3, 7) == b"7a\0"
        assert p.read_bytes() == b"0123456789"  # nothing reached the backing file
        d.flush_to(fd)
        assert p.read_bytes() == b"01234567a\0\0\0Z"
    finally:
        os.close(fd)




def _mounts(run_id: str) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line for line in f if f"splitbrain-{run_id}" in line]


@pytest.mark.netns
@pytest.mark.timeout(120)
def test_lose_unfsynced_through_the_cli_keeps_only_fsynced_data(sb_state_dir, root_iptables_unchanged):
    from splitbrain.harness.hosts.local_cluster import attach

    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir), "PYTHONPATH": str(ROOT)}
    up = splitbrain("cluster", "up", "--nodes", "1", "--lazyfs", env=env)
    assert up.returncode == 0, up.stderr
    store = StateStore(sb_state_dir)
    run_id = store.current()
    try:
        assert _mounts(run_id), "the data dir is not mounted"
        c = attach(run_id)
        node_dir = c.node_dir("n1")
        c.kill("n1")  # the echo node gives way to the file-writing node
        c.start("n1", [sys.executable, WRITER])
        wait_for(lambda: os.path.exists(os.path.join(node_dir, "fswriter-ready")), 20, "the writer")
        with open(os.path.join(c.data_dir("n1"), "synced.txt")) as f:
            assert f.read() == "durable\nnot fsynced\n"  # before the fault, the node sees all it wrote
        daemon = store.read(run_id)["helpers"]["n1/lazyfs"]

        out = splitbrain("nemesis", "lose-unfsynced", "n1", env=env)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.split(": ", 1)[1])
        assert result["killed"] == ["n1"] and result["restarted"] == ["n1"]
        assert result["lost"][0]["dropped-files"] == ["/unsynced.txt"]
        assert [(st["step"], st["nodes"]) for st in result["steps"]] == [  # the power cut's steps, in order
            ("killed", ["n1"]), ("unfsynced-dropped", ["n1"]), ("remounted", ["n1"]), ("restarted", ["n1"])]
        assert not process_is(daemon["pid"], daemon["start_time"])  # the old daemon died with the "power"

        reports = lambda: sorted(glob.glob(os.path.join(node_dir, "fswriter-report-*.json")), key=os.path.getmtime)
        wait_for(lambda: len(reports()) == 2, 20, "the restarted writer's report")
        with open(reports()[-1]) as f:
            seen = json.load(f)["seen"]
        assert seen == {"synced.txt": b"durable\n".hex()}  # fsynced data kept; the rest gone, as after a power loss
    finally:
        down = splitbrain("cluster", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert _mounts(run_id) == [] and store.read(run_id) is None
    assert not process_is(daemon["pid"], None)


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_cleanup_after_a_dead_controller_unmounts(sb_state_dir, root_iptables_unchanged):
    env = {**os.environ, "SPLITBRAIN_STATE_DIR": str(sb_state_dir), "PYTHONPATH": str(ROOT)}
    assert splitbrain("cluster", "up", "--nodes", "2", "--lazyfs", env=env).returncode == 0
    store = StateStore(sb_state_dir)
    run_id = store.current()
    helpers = store.read(run_id)["helpers"]
    assert set(helpers) == {"n1/lazyfs", "n2/lazyfs"} and len(_mounts(run_id)) == 2
    out = splitbrain("cleanup", "--run-id", run_id, env=env)  # the controller (cluster up) is long gone
    assert out.returncode == 0, out.stderr
    assert _mounts(run_id) == [] and store.read(run_id) is None
    assert not any(process_is(h["pid"], h["start_time"]) for h in helpers.values())
    assert not os.path.exists(f"/tmp/splitbrain-{run_id}")
    assert splitbrain("cleanup", "--run-id", run_id, env=env).returncode == 0


@pytest.mark.netns
@pytest.mark.timeout(60)
def test_cleanup_finds_a_daemon_the_state_never_recorded(sb_state_dir, root_iptables_unchanged):
    """A controller SIGKILLed between starting the FUSE daemon and recording its pid: the mount was recorded
    first, so cleanup finds the daemon by the mount it serves."""
    from splitbrain.harness.hosts.cleanup import cleanup_run
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    from splitbrain.harness.hosts.netns import wait_gone
    from splitbrain.nemesis import disk_appliers

    store = StateStore(sb_state_dir)
    c = create_local_cluster(1, store=store)
    try:
        disk_appliers.mount(c, "n1")
        pid = store.read(c.run_id)["helpers"]["n1/lazyfs"]["pid"]

        def forget(state):
            state["helpers"] = {}
        store.update(c.run_id, forget)  # as if the controller died before recording it
        report = cleanup_run(store, c.run_id)
        assert pid in report.killed and not report.problems
        assert wait_gone([pid], 5.0) == [] and _mounts(c.run_id) == []
    finally:
        c.down()
