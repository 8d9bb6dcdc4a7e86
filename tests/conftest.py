"""Shared pytest fixtures. Keep each owner's fixtures grouped under a heading."""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------------------------
# Local clusters on network namespaces (harness/hosts/netns.py, harness/hosts/cluster.py, nemesis/)
# ---------------------------------------------------------------------------------------------------------------

import json
import os
import socket
import subprocess
import time

import pytest


def _root_iptables_save() -> bytes:
    """The root namespace's ruleset as iptables-save prints it, minus the '# Generated/Completed' comment lines
    (they carry a timestamp). Reading does not create tables."""
    out = subprocess.run(["iptables-save"], capture_output=True, check=True, timeout=10).stdout
    return b"".join(line for line in out.splitlines(keepends=True) if not line.startswith(b"#"))


def _project_leftovers(run_ids: set[str]) -> list[str]:
    """Namespaces, root-namespace links and processes of the given runs that still exist."""
    left = []
    if not run_ids:
        return left
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=10).stdout
    for rid in run_ids:
        left += [f"netns {line.split()[0]}" for line in ns.splitlines() if line.startswith(f"sb-{rid}-")]
        left += [f"link sb{rid}c" for line in links.splitlines() if f" sb{rid}c@" in line or f" sb{rid}c:" in line]
        if os.path.exists(f"/tmp/splitbrain-{rid}"):
            left.append(f"dir /tmp/splitbrain-{rid}")
    return left


@pytest.fixture(scope="session")
def root_iptables_unchanged():
    """Session-wide guard: the host namespace's iptables-save output is the same before and after all tests."""
    before = _root_iptables_save()
    yield
    assert _root_iptables_save() == before, "the root namespace's iptables rules changed during the tests"


@pytest.fixture
def sb_state_dir(tmp_path, monkeypatch):
    """An isolated state dir for this test (SPLITBRAIN_STATE_DIR), so concurrent sessions never see each other."""
    d = tmp_path / "state"
    d.mkdir()
    monkeypatch.setenv("SPLITBRAIN_STATE_DIR", str(d))
    return d


@pytest.fixture
def isolated_state(sb_state_dir, root_iptables_unchanged):
    """For end-to-end runs: a private state dir (so cleanup here can't touch anyone else's clusters), and
    whatever the run left behind, also when the test failed midway, is cleaned up from it afterwards."""
    yield sb_state_dir
    from splitbrain.harness.hosts.cleanup import cleanup
    from splitbrain.harness.hosts.resources import StateStore
    cleanup(StateStore(str(sb_state_dir)))


@pytest.fixture
def local_cluster(sb_state_dir, root_iptables_unchanged):
    """Factory ``make(n, **kw) -> Cluster`` for namespace clusters. After the test (pass or fail) every cluster it
    made is torn down, cleanup is run again from the state files, and nothing of those runs may be left."""
    from splitbrain.harness.hosts.cleanup import cleanup
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    from splitbrain.harness.hosts.resources import StateStore

    made = []

    def make(n: int, **kw):
        c = create_local_cluster(n, store=StateStore(sb_state_dir), **kw)
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            try:
                c.down()
            except Exception:  # the state-file cleanup below still runs
                pass
        cleanup(StateStore(sb_state_dir), include_live=True)
        run_ids = {c.run_id for c in made}
        assert not _project_leftovers(run_ids), _project_leftovers(run_ids)
        assert not list(sb_state_dir.glob("*.json"))


def echo_request(address, msg: dict, timeout: float = 2.0, connect_deadline: float = 5.0) -> dict:
    """One JSON-lines request to an echo node from the controller; retries connecting until ``connect_deadline``
    (the node may still be starting); socket.timeout if the node does not answer within ``timeout``."""
    deadline = time.monotonic() + connect_deadline
    while True:
        try:
            sock = socket.create_connection((address.host, address.port), timeout=timeout)
            break
        except (ConnectionRefusedError, socket.timeout, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with sock:
        sock.settimeout(timeout)
        sock.sendall((json.dumps({"id": 1, **msg}) + "\n").encode())
        line = sock.makefile().readline()
    if not line:
        raise ConnectionResetError("echo node closed the connection")
    return json.loads(line)


@pytest.fixture
def echo():
    """The ``echo_request`` helper, as a fixture so test modules need not import conftest."""
    return echo_request


@pytest.fixture
def echo_cluster(local_cluster):
    """Factory ``make(n) -> (cluster, addresses)`` with the echo system started and answering on every node."""
    from splitbrain.harness.systems import get_system

    def make(n: int, **kw):
        c = local_cluster(n, **kw)
        addrs = c.start_system(get_system("echo"))
        for a in addrs:
            echo_request(a, {"type": "status"})
        return c, addrs

    return make
