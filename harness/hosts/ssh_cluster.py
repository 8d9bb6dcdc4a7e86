"""Remote clusters over SSH: :func:`create_ssh_cluster` turns a hosts file into a
:class:`splitbrain.harness.hosts.cluster.Cluster` whose hosts are :class:`splitbrain.harness.hosts.ssh_host.SshHost`s;
:func:`splitbrain.harness.hosts.ssh_cleanup.cleanup_ssh_run` removes everything such a run left on its hosts, from
the live controller or, after a crash, from the state file alone (``splitbrain cleanup``).

Node ``n<i>`` runs on the i-th host of the hosts file (file order; the first ``n`` hosts are used). On each host the
run owns exactly three things, all named after the run id, all recorded in the state file before they exist:

* the working dir ``<workdir_root>/splitbrain-<run id>`` (uploaded code, node dirs, logs, data);
* the node process (pid, pgid and kernel start time, recorded by the Cluster right after the spawn; its pid file
  ``<workdir>/nodes/<node>/node.pid`` covers the instant before that);
* the iptables chains ``sbp-<run id>`` (partitions) and ``sbl-<run id>`` (packet loss) and the jumps to them from
  INPUT, created by ``splitbrain.nemesis.appliers`` when a fault is applied (named in ``splitbrain.nemesis.iptables``).

The state file (mode ``"ssh"``) holds the hosts file's path and, per node, the host's public description (name,
address, port, user, workdir); never a password or passphrase: cleanup after a crash reads the hosts file again.

Must not: touch a process, chain or directory on a host that the run did not create (processes are killed only by
recorded pid with matching start time, or through a pid file of the run's own dir while the process's cwd is inside
that dir); contact a host the run never touched; wait without a bound (every SSH call has a deadline); leave the
state file behind while anything may still be left on a host (it is kept so that a later cleanup can retry).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from splitbrain.harness.hosts.cleanup_report import raise_on_problems
from splitbrain.harness.hosts.cluster import Cluster
from splitbrain.harness.hosts.netns import new_run_id
from splitbrain.harness.hosts.resources import StateStore, check_run_id, owner_record
from splitbrain.harness.hosts.ssh_cleanup import cleanup_ssh_run
from splitbrain.harness.hosts.ssh_config import load_hosts_file
from splitbrain.harness.hosts.ssh_host import SshHost
from splitbrain.history.errors import BadInput, ClusterError
from splitbrain.nemesis.iptables import run_chains

log = logging.getLogger(__name__)

MODE = "ssh"


def _new_run_id(store: StateStore) -> str:
    for _ in range(20):
        rid = new_run_id()
        if store.read(rid) is None:
            return rid
    raise ClusterError(f"could not find a free run id in {store.dir}")


def create_ssh_cluster(hosts_file: str | os.PathLike, n: int, *, run_id: str | None = None,
                       store: StateStore | None = None, faketime: bool = True,
                       leave_running: bool = False) -> Cluster:
    """A cluster of ``n`` nodes ``n1..nN`` on the first ``n`` hosts of ``hosts_file``.

    Records the run (mode ``ssh``) in the state file, connects to every host at once (so an unreachable host is
    reported within one connect timeout, as an UnreachableNode naming it) and makes each host's working dir. The
    system's package is uploaded later, by ``Cluster.start_system``. On any failure (Ctrl-C included) whatever was
    made is removed before the error propagates. BadInput for a wrong hosts file, too few hosts or hosts that
    share an address (every node needs an address of its own: partitions drop packets by source address)."""
    store = store or StateStore()
    if not isinstance(n, int) or n < 1:
        raise BadInput(f"need at least one node, not {n!r}", "--nodes")
    path = str(Path(hosts_file).expanduser().resolve())
    settings = load_hosts_file(path)
    if len(settings.hosts) < n:
        raise BadInput(f"lists {len(settings.hosts)} host(s), fewer than the {n} nodes asked for", path)
    chosen = settings.hosts[:n]
    seen: dict[str, str] = {}
    for h in chosen:
        if h.address in seen:
            raise BadInput(f"hosts {seen[h.address]!r} and {h.name!r} share the address {h.address}: every node "
                           "needs a host with an address of its own", path)
        seen[h.address] = h.name
    run_id = check_run_id(run_id) if run_id is not None else _new_run_id(store)
    nodes = [f"n{i}" for i in range(1, n + 1)]
    hosts = {node: SshHost(cfg, settings, run_id) for node, cfg in zip(nodes, chosen)}
    workdir = next(iter(hosts.values())).workdir  # one workdir_root per hosts file, so the same path everywhere
    store.create(run_id, {
        "run_id": run_id, "mode": MODE, "owner": owner_record(), "created": time.time(), "hosts_file": path,
        "workdir": workdir, "chains": run_chains(run_id), "resources": [], "nodes": {}, "system": None,
        "hosts": {node: {"name": h.config.name, "label": h.label, "address": h.address, "port": h.config.port,
                         "user": h.config.user, "workdir": h.workdir} for node, h in hosts.items()},
    })
    try:
        _connect_all(hosts)
        for node, h in hosts.items():
            store.add_resource(run_id, {"kind": "remote-dir", "node": node, "path": h.workdir})
            h.prepare_workdir()
    except BaseException:
        report = cleanup_ssh_run(store, run_id, hosts=hosts)
        if report.problems:
            log.warning("cleaning up after a failed start left: %s", "; ".join(report.problems))
        raise
    return Cluster(run_id, hosts, store=store, workdir=workdir, teardown=_teardown(store, run_id, hosts),
                   faketime=faketime, leave_running=leave_running)


def _connect_all(hosts: dict[str, SshHost]) -> None:
    """Connect to every host in parallel; raise the first failure in host order (each failure names its host)."""
    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        futures = [pool.submit(h.connect) for h in hosts.values()]
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e


def _teardown(store: StateStore, run_id: str, hosts: dict[str, SshHost]):
    def teardown() -> None:
        raise_on_problems([cleanup_ssh_run(store, run_id, hosts=hosts)])
    return teardown
