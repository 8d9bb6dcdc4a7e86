"""The cluster view over SSH (issue 14): a plugin client that sends every op to the primary finds its address in
the view the runner gives it, where the hosts' addresses follow no convention of ours. Real sshd hosts, each in its
own network namespace (splitbrain.harness.testing.sshd_hosts), the run through the CLI as a user starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splitbrain.harness.testing.sshd_hosts import create_sshd_hosts
from splitbrain.harness.hosts.resources import StateStore

pytestmark = [pytest.mark.netns, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ssh_hosts(tmp_path, root_iptables_unchanged):
    """Three sshd hosts and a private state dir and workdir root; everything removed afterwards."""
    from splitbrain.harness.hosts.cleanup import cleanup

    state, remote = tmp_path / "state", tmp_path / "remote"
    state.mkdir()
    remote.mkdir()
    store = StateStore(state)
    hosts_file, _, handle = create_sshd_hosts(3, netns=True, store=store, connect_timeout=3.0,
                                              command_timeout=15.0)
    try:
        text = hosts_file.read_text()
        hosts_file.write_text(text.replace("[defaults]\n", f'workdir_root = "{remote}"\n\n[defaults]\n'))
        yield hosts_file, state, handle
    finally:
        try:
            cleanup(store, include_live=True)
        finally:
            handle.cleanup()


@pytest.mark.timeout(120)
def test_a_client_routes_by_the_cluster_view_over_ssh(ssh_hosts, tmp_path):
    hosts_file, state, handle = ssh_hosts
    env = {**os.environ, "PYTHONPATH": "tests/plugins", "SPLITBRAIN_STATE_DIR": str(state)}
    p = subprocess.run([sys.executable, "-m", "splitbrain.harness.commands.main", "--plugin", "sb_probe_plugin", "run", "--hosts",
                        str(hosts_file), "--system", "probe-primary", "--option", "primary=n2", "--workload",
                        "register", "--option", "cas=false", "--time-limit", "3", "--rate", "40", "--op-timeout",
                        "0.5", "--recovery-time", "1", "--store", str(tmp_path / "store"), "--seed", "1",
                        "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)
    # One register per echo node: linearizable only if every client reached n2, at its SSH host's address.
    assert p.returncode == 0, p.stdout + p.stderr
    run = Path(next(line.split(None, 1)[1] for line in p.stdout.splitlines() if line.startswith("run:")))
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    ok = [o for o in ops if o["type"] == "ok" and o["process"] != "nemesis"]
    assert {o["node"] for o in ok} == {"n1", "n2", "n3"}
    assert all(o.get("answered_by", o["node"]) == "n2" for o in ok) and len(ok) > 20
    cfg = json.loads((run / "nodes" / "n1" / "node.json").read_text())
    assert cfg["nodes"]["n2"][0] == handle.cluster.host("n2").address  # the view's address is the SSH host's
