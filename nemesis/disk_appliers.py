"""Appliers of disk faults: nodes' data dirs on the project's lazy file system (:mod:`splitbrain.nemesis.lazyfs`), and
``lose_unfsynced``, the power loss that drops every write not fsynced.

Layout per node (local clusters): the data dir is the mount point; durable bytes live in
``<node dir>/lazyfs-backing``; the list of not-yet-durable new files in ``<node dir>/lazyfs-pending.json``; the
daemon is the recorded helper ``lazyfs`` (run in the controller's mount namespace: ``ip netns exec`` would give it a
private one, and nodes started afterwards would not see the mount). The mount is recorded in the run's state (kind
``mount``) before it is made, and cleanup unmounts it (also after the controller was SIGKILLed).

Over SSH the daemon runs on the node's own host (shipped with mfusepy, :mod:`splitbrain.nemesis.remote_disk`),
and a host without FUSE is refused with one sentence. :func:`corrupt` damages a down node's file on whichever
host it is.

Must not: restart a node on a data dir that is not mounted again, or leave a mount behind a dead daemon.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from splitbrain.history.errors import BadInput, ClusterError
from splitbrain.nemesis import corruption, remote_code, remote_disk

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

HELPER = "lazyfs"
MOUNT_WAIT = 10.0


def mounted(cluster: "Cluster", node: str) -> bool:
    """Whether ``node``'s data dir is on the lazy file system (on its host, local or SSH)."""
    if remote_code.is_remote(cluster):
        return remote_disk.is_mounted(cluster, node)
    return is_mounted(paths(cluster, node)[0])


def corrupt(cluster: "Cluster", node: str, patterns: list[str], pick: float, mode: str, rng: random.Random,
            flips: int) -> dict:
    """Damage one file of the (down) node's data dir matching ``patterns`` (:mod:`splitbrain.nemesis.corruption`),
    on its host; returns what was done."""
    if remote_code.is_remote(cluster):
        return remote_disk.corrupt(cluster, node, patterns, pick, mode, rng, flips)
    return corruption.corrupt_dir(cluster.data_dir(node), patterns, pick, mode, rng, flips=flips)


def paths(cluster: "Cluster", node: str) -> tuple[str, str, str]:
    """(mount point = the data dir, backing dir, pending-list file) of ``node``."""
    nd = cluster.node_dir(node)
    return cluster.data_dir(node), os.path.join(nd, "lazyfs-backing"), os.path.join(nd, "lazyfs-pending.json")


def is_mounted(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(len(parts) > 2 and parts[1] == real and parts[0] == "splitbrain-lazyfs"
                   for parts in (line.split() for line in f))


def mount(cluster: "Cluster", node: str) -> dict:
    """Put ``node``'s data dir on the lazy file system (the node must not be running). Idempotent."""
    if remote_code.is_remote(cluster):
        return remote_disk.mount(cluster, node)
    mnt, backing, pending = paths(cluster, node)
    if is_mounted(mnt) and cluster.helper_running(node, HELPER):
        return {"node": node, "mounted": mnt}
    if cluster.is_running(node):
        raise ClusterError(f"{node} is running: its data dir can only be mounted while it is down")
    os.makedirs(backing, exist_ok=True)
    os.makedirs(mnt, exist_ok=True)
    if not is_mounted(mnt) and os.listdir(mnt) and not os.listdir(backing):
        # Data written before the mount (not expected: mount before the node first starts) moves underneath.
        for name in os.listdir(mnt):
            os.rename(os.path.join(mnt, name), os.path.join(backing, name))
    cluster.store.add_resource(cluster.run_id, {"kind": "mount", "path": mnt})
    cluster.start_helper(node, HELPER, [sys.executable, "-m", "splitbrain.nemesis.lazyfs", "--backing", backing,
                                        "--mount", mnt, "--pending", pending], in_netns=False)
    deadline = time.monotonic() + MOUNT_WAIT
    while not is_mounted(mnt):
        if time.monotonic() > deadline or not cluster.helper_running(node, HELPER):
            raise ClusterError(f"the lazy file system did not mount on {mnt} within {MOUNT_WAIT:g} s; see "
                               f"{cluster.node_dir(node)}/helpers/{HELPER}.stderr.log")
        time.sleep(0.02)
    return {"node": node, "mounted": mnt}


def unmount(cluster: "Cluster", node: str, *, power_loss: bool) -> dict:
    """Stop the daemon (SIGKILL for a power loss: its un-fsynced writes die with it; SIGTERM otherwise, which
    loses them too, since only an fsync writes through) and unmount. With ``power_loss`` the new files that were
    not yet durable are deleted from the backing dir. Returns those."""
    if remote_code.is_remote(cluster):
        return remote_disk.unmount(cluster, node, power_loss=power_loss)
    mnt, backing, pending = paths(cluster, node)
    cluster.stop_helper(node, HELPER, sig=signal.SIGKILL if power_loss else signal.SIGTERM)
    if is_mounted(mnt):
        cluster.host(node)  # BadInput for an unknown node before anything runs
        # a local cluster (SSH ones went to remote_disk above): the mount is on this machine
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30, check=False)
    from splitbrain.nemesis.lazyfs import drop_pending  # here: the daemon runs as ``-m splitbrain.nemesis.lazyfs``, keep it unimported
    dropped = drop_pending(backing, pending) if power_loss else []
    return {"node": node, "dropped-files": dropped}


def lose_unfsynced(cluster: "Cluster", node: str) -> dict:
    """Power loss on ``node``: kill it, drop everything it did not fsync, mount again and restart it."""
    if not (mounted(cluster, node) and cluster.helper_running(node, HELPER)):
        raise BadInput(f"{node}'s data dir is not on the lazy file system; lose-unfsynced mounts it when a run "
                       "starts (splitbrain run --nemesis lose-unfsynced, or cluster up --lazyfs)", "nemesis plan")
    killed = cluster.kill(node)
    out = {"node": node, "killed": killed, **unmount(cluster, node, power_loss=True)}
    mount(cluster, node)
    recorded = (cluster.state().get("nodes") or {}).get(node) or {}
    if recorded.get("argv"):
        cluster.restart(node)
        out["restarted"] = True
    return out
