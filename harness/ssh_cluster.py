"""Remote clusters over SSH: :func:`create_ssh_cluster` turns a hosts file into a :class:`splitbrain.harness.cluster.Cluster`
whose hosts are :class:`splitbrain.harness.ssh.SshHost`s, and :func:`cleanup_ssh_run` removes everything such a run left on
its hosts, from the live controller or, after a crash, from the state file alone (``splitbrain cleanup``).

Node ``n<i>`` runs on the i-th host of the hosts file (file order; the first ``n`` hosts are used). On each host the
run owns exactly three things, all named after the run id, all recorded in the state file before they exist:

* the working dir ``<workdir_root>/splitbrain-<run id>`` (uploaded code, node dirs, logs, data);
* the node process (pid, pgid and kernel start time, recorded by the Cluster right after the spawn; its pid file
  ``<workdir>/nodes/<node>/node.pid`` covers the instant before that);
* the iptables chains ``sbp-<run id>`` (partitions) and ``sbl-<run id>`` (packet loss) and the jumps to them from
  INPUT, created by ``splitbrain.nemesis.appliers`` when a fault is applied (named in ``splitbrain.nemesis.iptables``);
* what the disk and link faults made (helpers, lazy file system mounts, the ``sbq-<run id>`` chain, the rate
  fault's qdisc), removed by ``splitbrain.nemesis.remote_cleanup``.

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
import shlex
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from splitbrain.harness.api import ProcessHandle
from splitbrain.harness.cleanup_report import CleanupReport, raise_on_problems
from splitbrain.harness.cluster import Cluster
from splitbrain.harness.errors import BadInput, ClusterError, UnreachableNode
from splitbrain.harness.ssh import SshHost
from splitbrain.harness.ssh_config import load_hosts_file
from splitbrain.harness.state import StateStore, check_run_id, owner_record
from splitbrain.nemesis import remote_cleanup
from splitbrain.nemesis.iptables import IPT, remove_script, run_chains

log = logging.getLogger(__name__)

MODE = "ssh"
#: Seconds to wait for killed node processes to disappear.
KILL_WAIT = 5.0


def _new_run_id(store: StateStore) -> str:
    from splitbrain.harness.netns import new_run_id
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


# ---------------------------------------------------------------------------------------------------------- cleanup


def _sweep_script(workdir: str, nodes: list[str]) -> str:
    """Kill the process group of every pid file of ``nodes`` under ``workdir`` whose process still has its cwd
    inside ``workdir`` (a reused pid has not), wait (bounded) until they are gone, print survivors."""
    wd = shlex.quote(workdir.rstrip("/"))
    files = " ".join(shlex.quote(f"{workdir.rstrip('/')}/nodes/{n}/node.pid") for n in nodes)
    return "\n".join([
        f"wd={wd}; pids=''",
        f"for f in {files}; do",
        '  [ -f "$f" ] || continue; p=$(cat "$f" 2>/dev/null); case "$p" in ""|*[!0-9]*) continue;; esac',
        '  c=$(readlink "/proc/$p/cwd" 2>/dev/null) || continue',
        '  case "$c" in "$wd"/*) kill -CONT -"$p" 2>/dev/null; kill -KILL -"$p" 2>/dev/null; pids="$pids $p";; esac',
        "done",
        f"i=0; while [ $i -lt {int(KILL_WAIT * 20)} ]; do left=''",
        '  for p in $pids; do c=$(readlink "/proc/$p/cwd" 2>/dev/null) && case "$c" in "$wd"/*) left="$left $p";; '
        'esac; done',
        '  [ -z "$left" ] && break; sleep 0.05; i=$((i+1)); done',
        'echo "killed:$pids"; echo "left:$left"',
    ])


def _chain_script(chains: list[str]) -> str:
    """Remove the run's chains and INPUT's jumps to them (nothing else); print the chains that existed."""
    lines = []
    for c in chains:
        q = shlex.quote(c)
        lines += [f"if {IPT} -S {q} >/dev/null 2>&1; then echo {q}; fi", remove_script(c)]
    return "\n".join(lines)


def _clean_host(host: SshHost, nodes: list[str], records: dict, chains: list[str], workdir: str,
                report, state: dict | None = None) -> None:
    """Everything of the run on one host: its processes, its chains, its working dir. Raises on the first
    failure (the caller records it as a problem)."""
    for node in nodes:
        rec = records.get(node) or {}
        if rec.get("pid"):
            handle = ProcessHandle(node, int(rec["pid"]), int(rec.get("pgid") or rec["pid"]), [],
                                   rec.get("start_time"))
            if host.alive(handle):
                host.signal(handle, signal.SIGCONT)  # a stopped group dies on SIGKILL too; CONT for clarity
                host.signal(handle, signal.SIGKILL)
                report.killed.append(handle.pid)
    r = host.exec(["sh", "-c", _sweep_script(workdir, nodes)], timeout=KILL_WAIT + 10, check=True)
    out = dict(line.split(":", 1) for line in r.stdout.splitlines() if ":" in line)
    report.killed += [int(p) for p in out.get("killed", "").split() if int(p) not in report.killed]
    if out.get("left", "").split():
        raise ClusterError(f"{host.label}: processes survived SIGKILL: {out['left'].split()}")
    # The disk and link faults' helpers, mounts, queue chain and qdisc (splitbrain.nemesis.remote_cleanup).
    r = host.exec(["sh", "-c", remote_cleanup.script(workdir, host.run_id, nodes, state)], timeout=KILL_WAIT + 30,
                  check=True)
    report.removed += [f"{line[8:]} on {host.label}" for line in r.stdout.splitlines() if line.startswith("removed:")]
    left = [line[5:] for line in r.stdout.splitlines() if line.startswith("left:")]
    if left:
        raise ClusterError(f"{host.label}: could not remove {', '.join(left)}")
    r = host.exec(["sh", "-c", _chain_script(chains)], timeout=30, check=True)
    report.removed += [f"chain {c} on {host.label}" for c in r.stdout.split()]
    exists = host.exec(["test", "-e", workdir], check=False, retry_safe=True).returncode == 0
    host.remove_workdir()
    if exists:
        report.removed.append(f"dir {workdir} on {host.label}")


def _hosts_from_state(state: dict, run_id: str, report) -> dict[str, SshHost]:
    """Fresh SshHosts for the run's nodes, from the hosts file recorded in the state (secrets are read again
    from it, never from the state). Nodes whose host is gone from the file are reported as problems."""
    settings = load_hosts_file(state["hosts_file"])
    by_name = {h.name: h for h in settings.hosts}
    hosts = {}
    for node, rec in (state.get("hosts") or {}).items():
        cfg = by_name.get(rec.get("name"))
        if cfg is None or cfg.address != rec.get("address") or cfg.port != rec.get("port"):
            report.problems.append(f"{node}: host {rec.get('label')} is no longer in {state['hosts_file']} with the "
                                   "same address and port; clean it by hand")
            continue
        host = SshHost(cfg, settings, run_id)
        if host.workdir != rec.get("workdir"):
            report.problems.append(f"{node}: workdir_root of {state['hosts_file']} changed since the run; clean "
                                   f"{rec.get('workdir')} on {rec.get('label')} by hand")
            continue
        hosts[node] = host
    return hosts


def cleanup_ssh_run(store: StateStore, run_id: str, state: dict | None = None, *,
                    hosts: dict[str, SshHost] | None = None):
    """Remove everything run ``run_id`` made on its SSH hosts, then its state file. Idempotent.

    ``hosts``: the live controller's hosts (their connections are reused, then closed); without them the hosts
    file recorded in the state is read again. Only hosts the run touched (a working dir was recorded for them)
    are contacted, all at once, so unreachable ones cost one connect timeout in total. Every failure becomes a
    sentence in the report's ``problems``, and then the state file is kept for a later retry."""
    report = CleanupReport(run_id)
    state = state if state is not None else store.read(run_id)
    if state is None:
        return report
    if hosts is None:
        try:
            hosts = _hosts_from_state(state, run_id, report)
        except BadInput as e:
            report.problems.append(f"can't read the run's hosts file, so its hosts can't be cleaned ({e})")
            return report
    touched = {r.get("node") for r in state.get("resources") or [] if r.get("kind") == "remote-dir"}
    records = state.get("nodes") or {}
    todo = {node: h for node, h in hosts.items() if node in touched or (records.get(node) or {}).get("pid")}
    try:
        # Connect in parallel first: an unreachable host is one sentence, and the others are still cleaned.
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(todo)))) as pool:
            futures = {node: pool.submit(h.connect) for node, h in todo.items()}
            reachable = {}
            for node, fut in futures.items():
                e = fut.exception()
                if e is None:
                    reachable[node] = todo[node]
                else:
                    report.problems.append(str(e))
        # Then one host after the other: test hosts may share a filesystem (and so the working dir).
        for node, h in reachable.items():
            try:
                _clean_host(h, [node], records, state.get("chains") or run_chains(run_id),
                            (state.get("hosts") or {}).get(node, {}).get("workdir") or h.workdir, report,
                            state=state)
            except (ClusterError, UnreachableNode) as e:
                report.problems.append(str(e))
    finally:
        for h in hosts.values():  # the run is over either way: no idle connections left open
            h.close()
    if not report.problems:
        store.delete(run_id)
    return report
