"""Local clusters on real network namespaces with real node processes (echo): lifecycle, process and clock
faults, isolation between concurrent runs, and cleanup on errors."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time

import pytest

from splitbrain.history.errors import BadInput, ClusterError
from splitbrain.harness.hosts.resources import StateStore

pytestmark = pytest.mark.netns


def _netns_exists(name: str) -> bool:
    return name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()


@pytest.mark.timeout(60)
def test_cluster_layout_is_recorded_and_reachable(echo_cluster, echo, sb_state_dir):
    c, addrs = echo_cluster(3)
    state = StateStore(sb_state_dir).read(c.run_id)
    net = ipaddress.ip_network(state["subnet"])
    assert [a.name for a in addrs] == ["n1", "n2", "n3"] == c.nodes
    assert len({a.host for a in addrs}) == 3 and all(ipaddress.ip_address(a.host) in net for a in addrs)
    kinds = {(r["kind"], r.get("name") or r.get("path")) for r in state["resources"]}
    assert ("netns", f"sb-{c.run_id}-sw") in kinds and ("link", f"sb{c.run_id}c") in kinds
    for a in addrs:
        rec = state["nodes"][a.name]
        assert rec["pid"] == rec["pgid"] and os.getpgid(rec["pid"]) == rec["pgid"]
        # the process really runs inside the node's namespace
        ns_pids = subprocess.run(["ip", "netns", "pids", f"sb-{c.run_id}-{a.name}"], capture_output=True,
                                 text=True).stdout.split()
        assert str(rec["pid"]) in ns_pids
        reply = echo(a, {"type": "status"})
        assert reply["ok"] and reply["value"]["node"] == a.name and reply["value"]["pid"] == rec["pid"]
    # a node namespace has no route out: only its own subnet
    routes = c.host("n1").exec(["ip", "-4", "route"]).stdout
    assert "default" not in routes and str(net) in routes
    assert os.path.exists(os.path.join(c.node_dir("n1"), "node.stdout.log"))


@pytest.mark.timeout(60)
def test_kill_restart_pause_resume_and_clock(echo_cluster, echo):
    c, addrs = echo_cluster(2)
    n1 = addrs[0]
    assert echo(n1, {"type": "write", "value": "kept"})["ok"]
    boots = echo(n1, {"type": "status"})["value"]["boots"]

    old = c._handles["n1"]
    assert c.kill("n1") and not c.is_running("n1")
    assert not os.path.exists(f"/proc/{old.pid}") or open(f"/proc/{old.pid}/stat").read().split()[2] == "Z"
    assert subprocess.run(["ip", "netns", "pids", f"sb-{c.run_id}-n1"], capture_output=True,
                          text=True).stdout.strip() == ""
    with pytest.raises(OSError):
        echo(n1, {"type": "status"}, connect_deadline=0.2)
    assert not c.kill("n1")  # already down: reported, not an error

    c.restart("n1")
    st = echo(n1, {"type": "status"})["value"]
    assert st["boots"] == boots + 1 and st["pid"] != old.pid
    assert echo(n1, {"type": "read"})["value"] == "kept"  # same data dir

    assert c.pause("n1") and c.is_paused("n1") and c.is_running("n1")
    with pytest.raises(socket.timeout):
        echo(n1, {"type": "status"}, timeout=0.5)
    assert c.resume("n1") and not c.is_paused("n1")
    assert echo(n1, {"type": "status"})["ok"]

    before = echo(n1, {"type": "status"})["value"]["time"] - time.time()
    assert abs(before) < 1.0
    c.set_clock_offset("n1", 3600)
    ahead = echo(n1, {"type": "status"})["value"]["time"] - time.time()
    assert 3599 < ahead < 3601
    c.set_clock_offset("n1", -120.5)
    behind = echo(n1, {"type": "status"})["value"]["time"] - time.time()
    assert -121.5 < behind < -119.5
    other = echo(addrs[1], {"type": "status"})["value"]["time"] - time.time()
    assert abs(other) < 1.0  # only n1's clock moved
    c.restart("n1")  # the offset survives a restart
    assert -121.5 < echo(n1, {"type": "status"})["value"]["time"] - time.time() < -119.5


@pytest.mark.timeout(60)
def test_concurrent_runs_get_distinct_subnets_and_names(local_cluster, sb_state_dir, tmp_path):
    a = local_cluster(1)
    # a second run with a *different* state dir must still avoid a's subnet (the route is machine-wide)
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    other = StateStore(tmp_path / "other-state")
    b = create_local_cluster(1, store=other)
    try:
        sa, sb = StateStore(sb_state_dir).read(a.run_id)["subnet"], other.read(b.run_id)["subnet"]
        assert a.run_id != b.run_id and sa != sb
        with pytest.raises(BadInput):
            create_local_cluster(1, store=other, subnet=sa)
        with pytest.raises(BadInput):
            create_local_cluster(1, store=other, run_id=b.run_id)  # taken
    finally:
        b.down()
    assert not _netns_exists(f"sb-{b.run_id}-n1") and other.read(b.run_id) is None


@pytest.mark.timeout(60)
def test_context_manager_cleans_up_on_exception_and_interrupt(sb_state_dir, root_iptables_unchanged):
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    from splitbrain.harness.systems import get_system
    store = StateStore(sb_state_dir)
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with create_local_cluster(2, store=store) as c:
                c.start_system(get_system("echo"))
                pids = [c._handles[n].pid for n in c.nodes]
                raise exc
        assert not _netns_exists(f"sb-{c.run_id}-n1") and not _netns_exists(f"sb-{c.run_id}-sw")
        assert not os.path.exists(c.workdir) and store.read(c.run_id) is None
        for pid in pids:
            assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.mark.timeout(60)
def test_leave_running_then_attach_and_down(sb_state_dir, root_iptables_unchanged, echo):
    from splitbrain.harness.hosts.local_cluster import attach, create_local_cluster
    from splitbrain.harness.systems import get_system
    store = StateStore(sb_state_dir)
    try:
        with create_local_cluster(1, store=store, leave_running=True) as c:
            addrs = c.start_system(get_system("echo"))
        assert echo(addrs[0], {"type": "status"})["ok"]
        with attach(c.run_id, store) as again:  # attached clusters are left running by default
            assert again.is_running("n1") and again.nodes == ["n1"]
            again.kill("n1")
            again.restart("n1")
        assert echo(addrs[0], {"type": "status"})["value"]["boots"] == 2
        attach(c.run_id, store).down()
        assert store.read(c.run_id) is None and not _netns_exists(f"sb-{c.run_id}-n1")
    finally:
        from splitbrain.harness.hosts.cleanup import cleanup
        cleanup(store, include_live=True)


@pytest.mark.timeout(30)
def test_failed_creation_leaves_nothing(sb_state_dir, root_iptables_unchanged, monkeypatch):
    from splitbrain.harness.hosts import netns
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    store = StateStore(sb_state_dir)
    real_run = netns.run
    calls = []

    def failing_run(argv, **kw):
        calls.append(argv)
        if argv[:3] == ["ip", "netns", "add"] and argv[3].endswith("-n2"):
            raise ClusterError("injected failure")
        return real_run(argv, **kw)

    monkeypatch.setattr(netns, "run", failing_run)
    with pytest.raises(ClusterError, match="injected"):
        create_local_cluster(2, store=store)
    monkeypatch.undo()
    assert store.run_ids() == []
    created = [a[3] for a in calls if a[:3] == ["ip", "netns", "add"]]
    assert created and not any(_netns_exists(n) for n in created)


def test_bad_node_count_is_bad_input(sb_state_dir):
    from splitbrain.harness.hosts.local_cluster import create_local_cluster
    with pytest.raises(BadInput):
        create_local_cluster(0, store=StateStore(sb_state_dir))


def test_pid_reuse_guard():
    from splitbrain.harness.hosts.resources import process_is, process_start_time
    me = os.getpid()
    assert process_is(me, process_start_time(me))
    assert not process_is(me, process_start_time(me) + 1)
    assert not process_is(None, None)
