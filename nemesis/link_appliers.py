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

On a local cluster everything lives inside the node's namespace, so deleting the namespace (cleanup) removes it
too; the helper is killed by its recorded pid (by cleanup also after the controller was SIGKILLed). On SSH hosts
the packet program is shipped and run by the host's python (:mod:`splitbrain.nemesis.remote_code`: a host whose
python can't import the NetfilterQueue binding is refused with one sentence, before any rule is made); the chain
and the qdisc sit in the host's own tables and interface, so the rate fault first records the interface and its GSO size
in the run's state (resource ``remote-qdisc``) and refuses an interface whose root qdisc was configured by someone
else; heal and the SSH cleanup (also after a dead controller, :mod:`splitbrain.nemesis.remote_cleanup`) restore
both.

Must not: touch a chain, qdisc or process it did not create, or leave one behind after heal.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import TYPE_CHECKING

from splitbrain.history.errors import BadInput, ClusterError
from splitbrain.nemesis import remote_code
from splitbrain.nemesis.appliers import _sh
from splitbrain.nemesis.iptables import install_script, queue_chain, remove_script
from splitbrain.nemesis.remote_cleanup import rate_records, unrate_script
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


def _queue_argv(params: dict, seed: int, program: list[str] | None = None) -> list[str]:
    return [*(program or [sys.executable, "-m", "splitbrain.nemesis.netqueue"]),
            "--queue", str(QUEUE), "--mark", hex(MARK),
            "--delay-ms", str(params["delay_ms"]), "--jitter-ms", str(params["jitter_ms"]),
            "--duplicate", str(params["duplicate"]), "--reorder", str(params["reorder"]),
            "--reorder-ms", str(params["reorder_ms"] or 20.0), "--seed", str(seed)]


def apply_queue_fault(cluster: "Cluster", grudge: Grudge, params: dict, seed: int = 0) -> dict:
    """Replace any earlier delay/duplicate/reorder fault by this one: the links of ``grudge`` get the packet
    program with ``params`` (see :func:`check_params`). Returns the canonical grudge, what each sender holds
    back, and the parameters."""
    grudge = validate(grudge, cluster.nodes)
    params = check_params(params)
    links = {s: r for s, r in senders_to(grudge, cluster.nodes).items() if r}
    # On SSH hosts: ship the program to every sender (and refuse a host that can't run it) before anything changes.
    programs = {s: remote_code.ship(cluster, s, "netqueue") for s in links} if remote_code.is_remote(cluster) else {}
    heal_queue_fault(cluster)
    chain = queue_chain(cluster.run_id)
    addr = {n: cluster.host(n).address for n in cluster.nodes}
    for i, (sender, receivers) in enumerate(sorted(links.items())):
        # The program first: with the rule in place and no program, --queue-bypass would pass packets unharmed
        # for a moment, which is harmless but makes the fault start later than the history says.
        cluster.start_helper(sender, HELPER, _queue_argv(params, seed * 1000 + i, programs.get(sender)))
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
            log = remote_code.read_text(cluster, node, f"{cluster.node_dir(node)}/helpers/{HELPER}.stdout.log") \
                if remote_code.is_remote(cluster) else cluster.helper_log(node, HELPER)
            stopped[node] = last_counts(log)
    return {"healed": cluster.nodes, "stopped": stopped}


def last_counts(log_text: str) -> dict | None:
    """The last packet program's final counts: the JSON line with ``packets`` after its ``bound`` line (the log
    is appended to by every program of the run; one killed before it printed has none: None)."""
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


def _probe_script(address: str) -> str:
    """Shell (a remote host): print the interface holding ``address`` and its GSO size, or exit 4 if its root
    qdisc was configured by someone (a default one has handle 0:)."""
    return "\n".join([
        _dev_lookup(address),
        "root=$(tc qdisc show dev \"$dev\" root | head -n 1)",
        "case \"$root\" in ''|*' 0: root'*) ;; "
        "*) echo \"$dev has a root qdisc of its own: $root\" >&2; exit 4;; esac",
        "gso=$(ip -d link show dev \"$dev\" | grep -o 'gso_max_size [0-9]*' | head -n 1 | cut -d' ' -f2)",
        'echo "$dev $gso"',
    ])


def _record_interface(cluster: "Cluster", node: str) -> None:
    """On an SSH host: record (in the run's state, before anything changes) the interface the rate fault will
    shape and its GSO size, once per node; BadInput if someone else's qdisc sits there."""
    if rate_records(cluster.state(), node):
        return
    host = cluster.host(node)
    r = host.exec(["sh", "-c", _probe_script(host.address)], timeout=15.0, check=False)
    if r.returncode == 4:
        raise BadInput(f"the rate fault would replace a qdisc it did not make ({r.stderr.strip()})",
                       getattr(host, "label", node))
    fields = r.stdout.split()
    if r.returncode != 0 or not fields:
        raise ClusterError(f"{node}: can't find the interface of {host.address}: {r.stderr.strip()[-300:]}")
    cluster.store.add_resource(cluster.run_id, {"kind": "remote-qdisc", "node": node, "dev": fields[0],
                                                "gso": fields[1] if len(fields) > 1 else ""})


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
    if not 8 <= int(kbit) <= 10_000_000:
        raise ValueError(f"kbit must be between 8 and 10000000, not {kbit}")
    grudge = validate(grudge, cluster.nodes)
    addr = {n: cluster.host(n).address for n in cluster.nodes}
    links = {s: r for s, r in senders_to(grudge, cluster.nodes).items() if r}
    remote = remote_code.is_remote(cluster)
    for node in cluster.nodes:
        if node in links:
            if remote:
                _record_interface(cluster, node)
            _sh(cluster, node, _rate_script(addr[node], [addr[r] for r in links[node]], int(kbit)))
        else:
            _sh(cluster, node, _unrate(cluster, node))
    return {"grudge": grudge, "links": links, "kbit": int(kbit)}


def _unrate(cluster: "Cluster", node: str) -> str:
    if remote_code.is_remote(cluster):
        return "\n".join(["true", *(unrate_script(d, g) for d, g in rate_records(cluster.state(), node))])
    return _unrate_script(cluster.host(node).address)


def heal_rate(cluster: "Cluster") -> dict:
    for node in cluster.nodes:
        _sh(cluster, node, _unrate(cluster, node))
    return {"healed": cluster.nodes}
