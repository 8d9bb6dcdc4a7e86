"""Cleaning up after an SSH run: :func:`cleanup_ssh_run` removes everything a run left on its hosts (its processes,
its iptables chains, its working dir), from the live controller's hosts or, after a crash, from the state file alone
(``splitbrain cleanup``, through :func:`splitbrain.harness.hosts.cleanup.cleanup_run`). What the run owns on a host
is described in :mod:`splitbrain.harness.hosts.ssh_cluster`.

Must not: touch a process, chain or directory on a host that the run did not create (processes are killed only by
recorded pid with matching start time, or through a pid file of the run's own dir while the process's cwd is inside
that dir); contact a host the run never touched; wait without a bound; delete the state file while anything may
still be left on a host (it is kept so that a later cleanup can retry).
"""

from __future__ import annotations

import shlex
import signal
from concurrent.futures import ThreadPoolExecutor

from splitbrain.harness.api import ProcessHandle
from splitbrain.harness.hosts.cleanup_report import CleanupReport
from splitbrain.harness.hosts.resources import StateStore
from splitbrain.harness.hosts.ssh_config import load_hosts_file
from splitbrain.harness.hosts.ssh_host import SshHost
from splitbrain.history.errors import BadInput, ClusterError, UnreachableNode
from splitbrain.nemesis.iptables import IPT, remove_script, run_chains

#: Seconds to wait for killed node processes to disappear.
KILL_WAIT = 5.0



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
                report) -> None:
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
                            (state.get("hosts") or {}).get(node, {}).get("workdir") or h.workdir, report)
            except (ClusterError, UnreachableNode) as e:
                report.problems.append(str(e))
    finally:
        for h in hosts.values():  # the run is over either way: no idle connections left open
            h.close()
    if not report.problems:
        store.delete(run_id)
    return report
