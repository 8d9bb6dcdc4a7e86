"""The disk faults on SSH hosts: the lazy file system mounted, unmounted and "unplugged" on the node's own host,
and files corrupted there. Called by :mod:`splitbrain.nemesis.disk_appliers` when the cluster's hosts are remote.

Same layout and contract as the local case (``<node dir>/lazyfs-backing``, ``lazyfs-pending.json``, the helper
``lazyfs``), with the programs shipped by :mod:`splitbrain.nemesis.remote_code` and run by the host's python. The
mount is recorded in the run's state (kind ``remote-mount``, with its node) before it is made; the SSH cleanup
(:mod:`splitbrain.nemesis.remote_cleanup`) kills the daemon through its pid file and unmounts every lazy file
system under the run's working dir, also after the controller was SIGKILLed. A host without FUSE is refused with
one sentence (by :func:`splitbrain.nemesis.remote_code.ship`) before anything is mounted.

Must not: mount or unmount anything outside the run's working dir, or restart a node on a data dir that is not
mounted again.
"""

from __future__ import annotations

import json
import random
import shlex
import signal
from typing import TYPE_CHECKING

from splitbrain.history.errors import ClusterError
from splitbrain.nemesis import remote_code

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

HELPER = "lazyfs"
FSNAME = "splitbrain-lazyfs"
MOUNT_WAIT = 10.0


def _paths(cluster: "Cluster", node: str) -> tuple[str, str, str]:
    nd = cluster.node_dir(node)
    return cluster.data_dir(node), f"{nd}/lazyfs-backing", f"{nd}/lazyfs-pending.json"


def mounted_test(path: str) -> str:
    """Shell: succeeds iff ``path`` is a lazy file system mount point (as /proc/self/mounts lists it)."""
    return (f"m=$(realpath -m {shlex.quote(path)}); "
            f"awk -v m=\"$m\" '$1 == \"{FSNAME}\" && $2 == m {{f = 1}} END {{exit !f}}' /proc/self/mounts")


def is_mounted(cluster: "Cluster", node: str) -> bool:
    mnt = _paths(cluster, node)[0]
    return cluster.host(node).exec(["sh", "-c", mounted_test(mnt)], check=False, retry_safe=True).returncode == 0


def _umount(cluster: "Cluster", node: str, mnt: str) -> None:
    cluster.host(node).exec(["sh", "-c", f"if {mounted_test(mnt)}; then umount -l \"$m\"; fi"], check=True,
                            retry_safe=True, timeout=30)


def mount(cluster: "Cluster", node: str) -> dict:
    """Put ``node``'s data dir on the lazy file system of its host (the node must be down). Idempotent."""
    argv = remote_code.ship(cluster, node, "lazyfs")  # BadInput first if the host has no FUSE
    mnt, backing, pending = _paths(cluster, node)
    if cluster.helper_running(node, HELPER):
        if is_mounted(cluster, node):
            return {"node": node, "mounted": mnt}
        cluster.stop_helper(node, HELPER, sig=signal.SIGKILL)
    if cluster.is_running(node):
        raise ClusterError(f"{node} is running: its data dir can only be mounted while it is down")
    _umount(cluster, node, mnt)  # a mount left by a dead daemon answers nothing but ENOTCONN
    q = shlex.quote
    # Data written before the mount (not expected: mount before the node first starts) moves underneath.
    cluster.host(node).exec(["sh", "-c", f"set -e; mkdir -p {q(backing)} {q(mnt)}; "
                             f"if [ -n \"$(ls -A {q(mnt)})\" ] && [ -z \"$(ls -A {q(backing)})\" ]; then "
                             f"find {q(mnt)} -mindepth 1 -maxdepth 1 -exec mv -t {q(backing)} {{}} +; fi"],
                            check=True, retry_safe=False)
    cluster.store.add_resource(cluster.run_id, {"kind": "remote-mount", "node": node, "path": mnt})
    cluster.start_helper(node, HELPER, argv + ["--backing", backing, "--mount", mnt, "--pending", pending])
    tries = int(MOUNT_WAIT / 0.05)
    wait = f"i=0; until {mounted_test(mnt)}; do [ $i -ge {tries} ] && exit 1; sleep 0.05; i=$((i+1)); done"
    if cluster.host(node).exec(["sh", "-c", wait], check=False, timeout=MOUNT_WAIT + 10).returncode != 0:
        raise ClusterError(f"the lazy file system did not mount on {mnt} within {MOUNT_WAIT:g} s; see "
                           f"{cluster.node_dir(node)}/helpers/{HELPER}.stderr.log on {node}'s host")
    return {"node": node, "mounted": mnt}


def unmount(cluster: "Cluster", node: str, *, power_loss: bool) -> dict:
    """As :func:`splitbrain.nemesis.disk_appliers.unmount`, on ``node``'s host."""
    mnt, backing, pending = _paths(cluster, node)
    cluster.stop_helper(node, HELPER, sig=signal.SIGKILL if power_loss else signal.SIGTERM)
    _umount(cluster, node, mnt)
    dropped = []
    if power_loss:
        dropped = remote_code.run_json(cluster, node, "lazyfs", ["--backing", backing, "--mount", mnt,
                                                                   "--pending", pending, "--drop-pending"])
    return {"node": node, "dropped-files": dropped}


def corrupt(cluster: "Cluster", node: str, patterns: list[str], pick: float, mode: str, rng: random.Random,
            flips: int) -> dict:
    """Damage one file of ``node``'s data dir on its host (:func:`splitbrain.nemesis.corruption.corrupt_dir`
    run there); the node must be down. The host's own random seed is drawn from ``rng``."""
    return remote_code.run_json(cluster, node, "corruption", [
        "--data-dir", cluster.data_dir(node), "--patterns", json.dumps(list(patterns)), "--pick", repr(pick),
        "--mode", mode, "--seed", str(rng.randrange(1 << 30)), "--flips", str(int(flips))])
