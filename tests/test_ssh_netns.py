"""SSH hosts that are network namespaces (sshd inside each, on a private bridge): iptables in a chain of the
project's own on the "remote" host, and a Cluster whose hosts are SshHosts running real node processes.

Safety: before any iptables command the test proves over SSH that the remote shell is in another network
namespace than this process; the session-wide ``root_iptables_unchanged`` fixture checks the host's rules.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from splitbrain.harness.hosts.ssh_host import open_ssh_hosts, teardown_hosts
from splitbrain.harness.testing.sshd_hosts import create_sshd_hosts
from splitbrain.harness.hosts.resources import StateStore

pytestmark = pytest.mark.netns


@pytest.fixture
def ns_sshd(sb_state_dir, root_iptables_unchanged):
    _, _, handle = create_sshd_hosts(2, netns=True, store=StateStore(sb_state_dir), connect_timeout=3.0,
                                     command_timeout=10.0)
    try:
        yield handle
    finally:
        handle.cleanup()
    assert not os.path.exists(handle.base_dir)
    assert not [ns for ns in handle.netns.values()
                if ns in os.popen("ip netns list").read().split()]  # namespaces removed


@pytest.fixture
def ssh_hosts(ns_sshd):
    hosts = open_ssh_hosts(ns_sshd.hosts_file, uuid.uuid4().hex[:8])
    try:
        yield hosts
    finally:
        teardown_hosts(hosts)


def _connect_from(host, address: str) -> bool:
    probe = f"import socket; socket.create_connection(({address!r}, 22), timeout=1).close()"
    return host.exec([host.python, "-c", probe], check=False, timeout=8).returncode == 0


@pytest.mark.timeout(90)
def test_iptables_in_the_projects_own_chain_on_a_namespace_host(ns_sshd, ssh_hosts):
    n1, n2 = ssh_hosts["n1"], ssh_hosts["n2"]
    # Never run iptables unless the remote shell is provably not in this (the root) network namespace.
    remote_ns = n1.exec(["readlink", "/proc/self/ns/net"]).stdout.strip()
    assert remote_ns and remote_ns != os.readlink("/proc/self/ns/net")
    assert n1.address in n1.exec(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout

    chain = f"sb-{n1.run_id}"
    assert _connect_from(n2, n1.address)
    n1.exec(["iptables", "-w", "5", "-N", chain])
    n1.exec(["iptables", "-w", "5", "-I", "INPUT", "-j", chain])
    n1.exec(["iptables", "-w", "5", "-A", chain, "-s", n2.address, "-j", "DROP"])
    try:
        assert f"-A {chain} -s {n2.address}/32 -j DROP" in n1.exec(["iptables", "-S", chain]).stdout
        assert not _connect_from(n2, n1.address)  # n2's packets are dropped by n1
        assert n1.exec(["true"]).returncode == 0  # while the controller still reaches n1
    finally:
        n1.exec(["iptables", "-w", "5", "-D", "INPUT", "-j", chain], check=False)
        n1.exec(["iptables", "-w", "5", "-F", chain], check=False)
        n1.exec(["iptables", "-w", "5", "-X", chain], check=False)
    assert chain not in n1.exec(["iptables", "-S"]).stdout
    assert _connect_from(n2, n1.address)


@pytest.mark.timeout(90)
def test_cluster_lifecycle_over_ssh_hosts(ssh_hosts, sb_state_dir, echo):
    """splitbrain.harness.hosts.cluster.Cluster reaches hosts only through splitbrain.harness.api.Host: with SshHosts it starts, kills and
    restarts real node processes (under libfaketime) and collects their logs."""
    from splitbrain.harness.hosts.cluster import Cluster
    from splitbrain.harness.hosts.resources import StateStore
    from splitbrain.harness.systems import get_system

    store = StateStore(sb_state_dir)
    host = next(iter(ssh_hosts.values()))
    run_id = host.run_id
    store.create(run_id, {"run_id": run_id, "mode": "ssh", "resources": [], "hosts": {}, "nodes": {}})
    for h in ssh_hosts.values():
        h.prepare_workdir()
    teardown_problems = []
    cluster = Cluster(run_id, ssh_hosts, store=store, workdir=host.workdir,
                      teardown=lambda: teardown_problems.extend(teardown_hosts(ssh_hosts)))
    try:
        addrs = cluster.start_system(get_system("echo"))
        for a in addrs:
            assert echo(a, {"type": "status"})["value"]["node"] == a.name
        handle = cluster._handles["n1"]
        assert cluster.is_running("n1")
        cluster.pause("n1")
        assert cluster.is_paused("n1")
        cluster.resume("n1")
        assert cluster.kill("n1") and not cluster.is_running("n1")
        again = cluster.restart("n1")
        assert again.pid != handle.pid and cluster.is_running("n1")
        assert echo(addrs[0], {"type": "status"})["value"]["boots"] == 2  # same data dir, second start
        cluster.set_clock_offset("n2", 3600.0)  # libfaketime in the running node re-reads the file
        assert abs(echo(addrs[1], {"type": "status"})["value"]["time"] - time.time() - 3600) < 60
        logs = sb_state_dir.parent / "logs"
        cluster.collect_logs(str(logs))
        assert (logs / "n1" / "node.stdout.log").exists() and (logs / "n2" / "faketime.rc").exists()
    finally:
        cluster.down()
        store.delete(run_id)
    assert teardown_problems == []
    assert not cluster.host("n1").alive(again)
    for h in ssh_hosts.values():
        assert not os.path.exists(h.workdir)
