"""Cleanup: remove everything a run created, working from its state file alone.

Order matters: processes first (a namespace with a process in it outlives ``ip netns delete``), then namespaces
(deleting a node namespace also deletes its iptables rules and its veth; deleting the switch namespace deletes the
bridge and the peer of the controller's veth, which takes the controller's veth with it), then any interface still
left in the root namespace, then temp dirs, then the state file.

Idempotent: every step checks first and skips what is already gone, so running it twice, with nothing to clean,
or after the controller was SIGKILLed mid-creation all end with nothing left. A run of mode ``ssh`` is handed to
:func:`splitbrain.harness.hosts.ssh_cleanup.cleanup_ssh_run` (its things are on remote hosts).

Must not: signal a process that is not provably ours (recorded pgid whose leader has the recorded start time, or a
process inside one of our namespaces), delete a namespace or interface whose name is not recorded in the state
file, or delete a directory not recorded as created by the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path

# raise_on_problems is re-exported: callers import both names from here.
from splitbrain.harness.hosts.cleanup_report import CleanupReport, raise_on_problems  # noqa: F401
from splitbrain.harness.hosts.netns import existing_netns, kill_netns_processes, link_exists, run, wait_gone
from splitbrain.harness.hosts.resources import StateStore, owner_alive, process_is
from splitbrain.harness.hosts.ssh_cleanup import cleanup_ssh_run

log = logging.getLogger(__name__)


def _kill_recorded(state: dict, report: CleanupReport) -> None:
    pids = []
    recorded = list((state.get("nodes") or {}).items()) + list((state.get("helpers") or {}).items())
    for node, rec in recorded:
        pid, pgid, st = rec.get("pid"), rec.get("pgid"), rec.get("start_time")
        if pgid and process_is(pid, st):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGCONT)
                os.killpg(pgid, signal.SIGKILL)
            report.killed.append(pid)
            pids.append(pid)
    if wait_gone(pids, 5.0):
        report.problems.append(f"processes survived SIGKILL: {pids}")


def _kill_mount_daemons(path: str) -> list[int]:
    """SIGKILL every FUSE daemon serving ``path`` (a recorded mount of this run) whose pid the state may have
    missed: a controller killed between starting the daemon and recording it. Provably ours: its command line is
    ``splitbrain.nemesis.lazyfs ... --mount <path>``, a path inside this run's own directory."""
    killed = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "splitbrain.nemesis.lazyfs" in args and "--mount" in args and args.index("--mount") + 1 < len(args) \
                and args[args.index("--mount") + 1] == path:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(d.name), signal.SIGKILL)
                killed.append(int(d.name))
    wait_gone(killed, 5.0)
    return killed


def _mounted(path: str) -> bool:
    """Whether ``path`` is a mount point in /proc/self/mounts (os.path.ismount fails on a dead FUSE mount)."""
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1].replace("\\040", " ") == real for line in f if len(line.split()) > 1)


def cleanup_run(store: StateStore, run_id: str) -> CleanupReport:
    """Remove every resource recorded for ``run_id`` and then its state file. Safe to call any number of times."""
    report = CleanupReport(run_id)
    state = store.read(run_id)
    if state is None:
        return report
    if state.get("mode") == "ssh":  # its pids, chains and dirs are on remote hosts: cleaned over SSH
        return cleanup_ssh_run(store, run_id, state)
    _kill_recorded(state, report)
    resources = state.get("resources") or []
    # FUSE mounts after their daemons died (a dead daemon's mount answers ENOTCONN) and before any directory.
    for r in resources:
        if r.get("kind") == "mount":
            report.killed += _kill_mount_daemons(r["path"])
        if r.get("kind") == "mount" and _mounted(r["path"]):
            res = run(["umount", "-l", r["path"]], check=False)
            if res.returncode == 0 or not _mounted(r["path"]):
                report.removed.append(f"mount {r['path']}")
            else:
                report.problems.append(f"could not unmount {r['path']}: {res.stderr.strip()}")
    present = existing_netns()
    namespaces = [r["name"] for r in resources if r.get("kind") == "netns"]
    # Node namespaces before the switch, so nothing is left half-connected while we work.
    namespaces.sort(key=lambda n: n.endswith("-sw"))
    for ns in namespaces:
        if ns not in present:
            continue
        survivors = kill_netns_processes(ns)
        if survivors:
            report.problems.append(f"processes in {ns} survived SIGKILL: {survivors}")
        res = run(["ip", "netns", "delete", ns], check=False)
        if res.returncode == 0:
            report.removed.append(f"netns {ns}")
        elif ns in existing_netns():
            report.problems.append(f"could not delete netns {ns}: {res.stderr.strip()}")
    for r in resources:
        if r.get("kind") == "link" and link_exists(r["name"]):
            res = run(["ip", "link", "delete", r["name"]], check=False)
            if res.returncode == 0 or not link_exists(r["name"]):
                report.removed.append(f"link {r['name']}")
            else:
                report.problems.append(f"could not delete link {r['name']}: {res.stderr.strip()}")
    for r in resources:
        if r.get("kind") == "dir" and Path(r["path"]).exists():
            shutil.rmtree(r["path"], ignore_errors=True)
            if Path(r["path"]).exists():
                report.problems.append(f"could not remove {r['path']}")
            else:
                report.removed.append(f"dir {r['path']}")
    if report.problems:
        # Keep the state file so a later cleanup can retry; the caller reports the problems.
        return report
    store.delete(run_id)
    return report


def cleanup(store: StateStore | None = None, run_id: str | None = None, *,
            include_live: bool = False) -> list[CleanupReport]:
    """Clean one run (``run_id``, whoever owns it) or every run in the state dir whose creating controller is no
    longer running (a run of a live test session or engineer is skipped unless ``include_live``)."""
    store = store or StateStore()
    if run_id is not None:
        return [cleanup_run(store, run_id)]
    reports = []
    # SSH runs first: their hosts may be local sshd test hosts, themselves a local run cleaned here.
    for rid in sorted(store.run_ids(), key=lambda r: (store.read(r) or {}).get("mode") != "ssh"):
        state = store.read(rid)
        if state is not None and owner_alive(state) and not include_live and state["owner"]["pid"] != os.getpid():
            reports.append(CleanupReport(rid, skipped_reason=f"in use by live process {state['owner']['pid']}"))
            continue
        reports.append(cleanup_run(store, rid))
    return reports
