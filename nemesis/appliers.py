"""Appliers: turn fault plans into actions on a cluster, only through ``Host.exec`` and ``Cluster`` methods (so
they work on network namespaces and over SSH alike), and return JSON data saying what was done.

Network faults live in iptables chains of the project's own, named with the run id and jumped to from INPUT on
each node's host (named and scripted in :mod:`splitbrain.nemesis.iptables`): ``sbp-<run id>`` for partitions (DROP by source address) and ``sbl-<run id>`` for packet loss
(``statistic --mode random``). Healing removes exactly those jumps and chains and nothing else. On a local cluster
the chains are inside the node's namespace; on an SSH host they would be in the host's own tables, which is why
nothing here ever flushes or changes a chain it did not create.

Must not: touch any chain but its own, block the controller (rules match node addresses only, loss spares
loopback), or run for unbounded time (strobe is bounded by its duration and a flip count).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

from splitbrain.history.errors import BadInput
from splitbrain.nemesis.grudge import Grudge, validate
from splitbrain.nemesis.iptables import install_script, loss_chain, partition_chain, remove_script

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

MAX_STROBE_FLIPS = 10_000


def refuse_remote(cluster: "Cluster", fault: str, why: str) -> None:
    """BadInput (one sentence) unless every host is a local namespace: for faults that act from the controller's
    machine (``why`` says how)."""
    # A host that ships code to run (splitbrain.harness.hosts.cluster.ShipsCode: an SSH host) is not on this machine.
    if any(hasattr(h, "upload_package") for h in cluster.hosts.values()):
        raise BadInput(f"the {fault} fault works on local namespace clusters only ({why})", "--nemesis")


def _sh(cluster: "Cluster", node: str, script: str) -> None:
    cluster.host(node).exec(["sh", "-c", script], timeout=15.0)


# ---------------------------------------------------------------------------------------------------------- network


def apply_partition(cluster: "Cluster", grudge: Grudge, only: Sequence[str] | None = None) -> dict:
    """Replace the current partition by ``grudge``: each node drops packets whose source is a node it holds a grudge
    against. Nodes without a grudge get no chain at all. Returns the canonical grudge and the rules per node.
    ``only``: touch just these nodes (the caller knows the others already hold what ``grudge`` gives them; a
    fault that must act within milliseconds saves the round trips)."""
    grudge = validate(grudge, cluster.nodes)
    chain = partition_chain(cluster.run_id)
    addr = {n: cluster.host(n).address for n in cluster.nodes}
    rules = {}
    for node in (cluster.nodes if only is None else [n for n in cluster.nodes if n in only]):
        srcs = grudge.get(node, [])
        if srcs:
            rules[node] = [addr[s] for s in srcs]
            _sh(cluster, node, install_script(chain, [["-s", addr[s], "-j", "DROP"] for s in srcs]))
        else:
            _sh(cluster, node, remove_script(chain))
    return {"grudge": grudge, "dropped": rules}


def heal_partition(cluster: "Cluster") -> dict:
    chain = partition_chain(cluster.run_id)
    for node in cluster.nodes:
        _sh(cluster, node, remove_script(chain))
    return {"healed": cluster.nodes}


def apply_loss(cluster: "Cluster", nodes: list[str], probability: float) -> dict:
    """On each of ``nodes``, drop incoming packets (except loopback) with ``probability``; other nodes get none."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be between 0 and 1, not {probability}")
    chain = loss_chain(cluster.run_id)
    for node in nodes:
        cluster.host(node)
    for node in cluster.nodes:
        if node in nodes:
            rules = [["!", "-i", "lo", "-m", "statistic", "--mode", "random", "--probability", f"{probability:.6f}",
                      "-j", "DROP"]]
            control = getattr(cluster.host(node), "control_port", None)
            if control:  # an SSH host: the controller's own commands (the heal too) must not be lost
                rules.insert(0, ["-p", "tcp", "--dport", str(int(control)), "-j", "RETURN"])
            _sh(cluster, node, install_script(chain, rules))
        else:
            _sh(cluster, node, remove_script(chain))
    return {"nodes": sorted(nodes), "probability": probability}


def heal_loss(cluster: "Cluster") -> dict:
    chain = loss_chain(cluster.run_id)
    for node in cluster.nodes:
        _sh(cluster, node, remove_script(chain))
    return {"healed": cluster.nodes}


# ---------------------------------------------------------------------------------------------------------- clocks


def strobe(cluster: "Cluster", nodes: list[str], delta: float, period: float, duration: float) -> dict:
    """Flip each node's clock between its current offset and that plus ``delta`` every ``period`` seconds for
    ``duration`` seconds (bounded by MAX_STROBE_FLIPS), then leave it at the original offset. Blocks meanwhile."""
    base = {n: cluster.clock_offset(n) for n in nodes}
    flips = 0
    deadline = time.monotonic() + duration
    up = False
    try:
        while time.monotonic() < deadline and flips < MAX_STROBE_FLIPS:
            up = not up
            for n in nodes:
                cluster.set_clock_offset(n, base[n] + (delta if up else 0.0))
            flips += 1
            time.sleep(max(0.0, min(period, deadline - time.monotonic())))
    finally:
        for n in nodes:
            cluster.set_clock_offset(n, base[n])
    return {"nodes": sorted(nodes), "delta": delta, "period": period, "flips": flips,
            "offsets": {n: base[n] for n in sorted(nodes)}}
