"""Appliers of slow-network faults on the links between nodes: delay, duplicate, reorder (a packet program on an
NFQUEUE) and rate (an htb qdisc). tc netem is not available on these machines.

A plan names its links as a grudge (``splitbrain.nemesis.grudge``): ``{receiver: [senders]}``; every packet a sender sends to a
receiver of the plan is affected, in the sender's own namespace (its ``OUTPUT`` chain, its interface's egress):

* delay/duplicate/reorder: the sender's chain ``sbq-<run id>`` (jumped to from ``OUTPUT``) sends packets for the
  receivers' addresses to NFQUEUE ``QUEUE``, with ``--queue-bypass`` (no program bound: packets pass), and the helper
  process ``netqueue`` (:mod:`splitbrain.nemesis.netqueue`, recorded in the run's state by ``Cluster.start_helper``) holds,
  duplicates or reorders them. Copies it sends carry ``MARK``, which the rule lets pass.
* rate: an htb root qdisc on the sender's interface with one class of ``kbit`` per receiver (u32 filter on the
  receiver's address); all other traffic goes to an unlimited default class. GSO is limited to one MTU meanwhile
  (else the first 64 KB super-packet of a TCP stream passes uncounted).

Only node-to-node packets are touched: the controller's address is in no plan, so clients and the heal itself are
never slowed. Healing removes exactly the project's chain, qdisc and helper, on every node, whatever was applied.

Local namespace clusters only: the packet program runs with the controller's Python (which has the NetfilterQueue
binding), and on an SSH host the qdisc would sit on the host's own interface. Over SSH these faults refuse.
Everything lives inside the node's namespace, so deleting the namespace (cleanup) removes it too; the helper is
killed by its recorded pid (by cleanup also after the controller was SIGKILLed).

Must not: touch a chain, qdisc or process it did not create, or leave one behind after heal.
"""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

from splitbrain.nemesis import appliers
from splitbrain.nemesis.appliers import _sh
from splitbrain.nemesis.iptables import install_script, remove_script
from splitbrain.nemesis.grudge import Grudge, validate

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster

QUEUE = 17
MARK = 0x5B17
HELPER = "netqueue"
#: The default class of the rate fault's htb: far above what a veth carries here, so it never limits.
UNLIMITED = "10gbit"
#: The sender interface's largest GSO packet while a rate fault is on, and the veth default it returns to (the
#: project created the interface, so the default is what it had).
RATE_GSO, DEFAULT_GSO = 1500, 65536


def queue_chain(run_id: str) -> str:
    return f"sbq-{run_id}"


def refuse_remote(cluster: "Cluster", fault: str) -> None:
    """BadInput unless every host is a local namespace (see the module docstring for why)."""
    appliers.refuse_remote(cluster, fault, "it runs a packet program or a qdisc inside each node's namespace")


def senders_to(grudge: Grudge, nodes: list[str]) -> dict[str, list[str]]:
    """Pure: for each node, the receivers its packets to which the plan affects (``{sender: [receivers]}``)."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for receiver, senders in grudge.items():
        for s in senders:
            out[s].append(receiver)
    return {s: sorted(r) for s, r in out.items()}


def check_params(params: dict) -> dict:
    """The packet program's parameters, checked: ``delay_ms``, ``jitter_ms``, ``reorder_ms`` in [0, 5000];
    ``duplicate``, ``reorder`` probabilities. ValueError naming the bad one."""
    out = {}
    for k in ("delay_ms", "jitter_ms", "reorder_ms"):
        v = float(params.get(k, 0.0) or 0.0)
        if not 0.0 <= v <= 5000.0:
            raise ValueError(f"{k} must be between 0 and 5000 ms, not {v}")
        out[k] = v
    for k in ("duplicate", "reorder"):
        v = float(params.get(k, 0.0) or 0.0)
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{k} must be a probability between 0 and 1, not {v}")
        out[k] = v
    return out


def _queue_argv(params: dict, seed: int) -> list[str]:
    return [sys.executable, "-m", "splitbrain.nemesis.netqueue", "--queue", str(QUEUE), "--mark", hex(MARK),
            "--delay-ms", str(params["delay_ms"]), "--jitter-ms", str(params["jitter_ms"]),
            "--duplicate", str(params["duplicate"]), "--reorder", str(params["reorder"]),
            "--reorder-ms", str(params["reorder_ms"] or 20.0), "--seed", str(seed)]


def apply_queue_fault(cluster: "Cluster", grudge: Grudge, params: dict, seed: int = 0) -> dict:
    """Replace any earlier delay/duplicate/reorder fault by this one: the links of ``grudge`` get the packet
    program with ``params`` (see :func:`check_params`). Returns the canonical grudge, what each sender holds
    back, and the parameters."""
    refuse_remote(cluster, "delay/duplicate/reorder")
    grudge = validate(grudge, cluster.nodes)
    params = check_params(params)
    heal_queue_fault(cluster)
    chain = queue_chain(cluster.run_id)
    addr = {n: cluster.host(n).address for n in cluster.nodes}
    links = {s: r for s, r in senders_to(grudge, cluster.nodes).items() if r}
    for i, (sender, receivers) in enumerate(sorted(links.items())):
        # The program first: with the rule in place and no program, --queue-bypass would pass packets unharmed
        # for a moment, which is harmless but makes the fault start later than the history says.
        cluster.start_helper(sender, HELPER, _queue_argv(params, seed * 1000 + i))
        rules = [["-d", addr[r], "-m", "mark", "!", "--mark", hex(MARK), "-j", "NFQUEUE", "--queue-num", str(QUEUE),
                  "--queue-bypass"] for r in receivers]
        _sh(cluster, sender, install_script(chain, rules, hook="OUTPUT"))
    return {"grudge": grudge, "links": links, **params}


def heal_queue_fault(cluster: "Cluster") -> dict:
    """Remove the queue rules (packets flow unheld at once), then stop every packet program (it lets what it
    holds go first). Idempotent; returns the nodes whose program was running with its final counts."""
    chain = queue_chain(cluster.run_id)
    stopped = {}
    for node in cluster.nodes:
        _sh(cluster, node, remove_script(chain, hook="OUTPUT"))
    for node in cluster.nodes:
        if cluster.stop_helper(node, HELPER):
            stopped[node] = last_counts(cluster.helper_log(node, HELPER))
    return {"healed": cluster.nodes, "stopped": stopped}


def last_counts(log_text: str) -> dict | None:
    """The last packet program's final counts: the JSON line with ``packets`` after its ``bound`` line (the log
    is appended to by every program of the run; one killed before it printed has none: None)."""
    import json
    for line in reversed(log_text.splitlines()):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict) and "packets" in d:
            return d
        if isinstance(d, dict) and "bound" in d:
            return None
    return None


# ---------------------------------------------------------------------------------------------------------- rate


def _dev_lookup(address: str) -> str:
    """Shell that sets $dev to the interface holding ``address`` in the node's namespace (fails if none)."""
    a = shlex.quote(address)
    return (f"dev=$(ip -o -4 addr show | awk -v a={a} '{{split($4, x, \"/\"); if (x[1] == a) print $2}}' | head -n 1)"
            "\n[ -n \"$dev\" ] || { echo 'no interface holds the node address' >&2; exit 3; }")


def _rate_script(address: str, receivers: list[str], kbit: int) -> str:
    lines = ["set -e", _dev_lookup(address),
             "tc qdisc del dev \"$dev\" root handle 1: 2>/dev/null || true",
             # GSO hands htb 64 KB super-packets, the first of which passes free: the cap would start 0.5 s late.
             f"ip link set dev \"$dev\" gso_max_size {RATE_GSO}",
             "tc qdisc add dev \"$dev\" root handle 1: htb default 1 r2q 1000",
             f"tc class add dev \"$dev\" parent 1: classid 1:1 htb rate {UNLIMITED}"]
    for i, r in enumerate(receivers):
        cls = f"1:{10 + i}"
        lines += [f"tc class add dev \"$dev\" parent 1: classid {cls} htb rate {int(kbit)}kbit ceil {int(kbit)}kbit burst 2k cburst 2k",
                  f"tc filter add dev \"$dev\" parent 1: protocol ip prio 1 u32 match ip dst {shlex.quote(r)}/32 "
                  f"flowid {cls}"]
    return "\n".join(lines)


def _unrate_script(address: str) -> str:
    # Only our own qdisc (handle 1: htb); the default qdisc of an interface is never deleted.
    return "\n".join([_dev_lookup(address),
                      "if tc qdisc show dev \"$dev\" root | grep -q '^qdisc htb 1: root'; then "
                      "tc qdisc del dev \"$dev\" root handle 1:; fi",
                      f"ip link set dev \"$dev\" gso_max_size {DEFAULT_GSO}"])


def apply_rate(cluster: "Cluster", grudge: Grudge, kbit: int) -> dict:
    """Replace any earlier rate fault: each link of ``grudge`` is capped at ``kbit`` kilobits per second."""
    refuse_remote(cluster, "rate")
    if not 8 <= int(kbit) <= 10_000_000:
        raise ValueError(f"kbit must be between 8 and 10000000, not {kbit}")
    grudge = validate(grudge, cluster.nodes)
    addr = {n: cluster.host(n).address for n in cluster.nodes}
    links = {s: r for s, r in senders_to(grudge, cluster.nodes).items() if r}
    for node in cluster.nodes:
        if node in links:
            _sh(cluster, node, _rate_script(addr[node], [addr[r] for r in links[node]], int(kbit)))
        else:
            _sh(cluster, node, _unrate_script(addr[node]))
    return {"grudge": grudge, "links": links, "kbit": int(kbit)}


def heal_rate(cluster: "Cluster") -> dict:
    for node in cluster.nodes:
        _sh(cluster, node, _unrate_script(cluster.host(node).address))
    return {"healed": cluster.nodes}
