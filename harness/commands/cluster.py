"""``splitbrain cluster ...``, ``splitbrain nemesis ...`` and ``splitbrain cleanup``: bring up a local cluster, watch
faults happen to it by hand, and tear it down.

``cluster up`` leaves the cluster running and remembers it as the *current* cluster in the state dir
(``$SPLITBRAIN_STATE_DIR``); ``nemesis`` commands act on the current cluster (or ``--run-id``); ``cluster down`` and
``cleanup`` remove everything (``cleanup`` without ``--run-id``: every run whose creating process has exited).
Values that come from nodes are printed escaped (``rich.markup.escape``).
"""

from __future__ import annotations

import asyncio
import json
import random

import click
from rich.markup import escape

from splitbrain.harness.api import Invocation
from splitbrain.harness.hosts.resources import StateStore, check_run_id
from splitbrain.harness.jsonline_client import JsonLineConnection
from splitbrain.harness.systems import get_system
from splitbrain.history.errors import BadInput

# Imported inside the commands, on purpose: the machinery a command runs (runner, analysis, clusters and their
# cleanup, the checkers' searches, reports, nemesis) pulls in pandas, paramiko and the fault appliers, which
# `splitbrain --help` and the other commands must not wait for.

run_id_option = click.option("--run-id", default=None, help="The cluster to act on (default: the current one).")


def _echo(text: str) -> None:
    click.echo(text)


def _safe(value) -> str:
    """A value reported by a node, shown as JSON with control characters escaped (never interpreted)."""
    return escape(json.dumps(value, ensure_ascii=True, default=repr))


async def _status_of(addr, timeout: float) -> dict | str:
    conn = JsonLineConnection(addr, connect_timeout=timeout)
    try:
        reply = await conn.request({"type": "status"}, timeout)
        return reply.get("value") if reply.get("ok") else f"error {reply.get('error')}"
    except Exception as e:  # down, paused or partitioned from the controller: show why
        return f"no answer ({type(e).__name__})"
    finally:
        await conn.close()


def _print_cluster(c, with_status: bool) -> None:
    state = c.state()
    system = state.get("system") or {}
    _echo(f"cluster {c.run_id}  subnet {state.get('subnet')}  controller {state.get('controller_address')}  "
          f"system {system.get('name', '-')}  workdir {c.workdir}")
    port = system.get("port")
    statuses = {}
    if with_status and port:
        addrs = c.addresses(port)

        async def all_status():
            return await asyncio.gather(*(_status_of(a, 1.0) for a in addrs))
        statuses = dict(zip([a.name for a in addrs], asyncio.run(all_status())))
    for node in c.nodes:
        host = c.host(node)
        rec = (state.get("nodes") or {}).get(node) or {}
        run = "paused" if c.is_paused(node) else ("running" if c.is_running(node) else "down")
        addr = f"{host.address}:{port}" if port else host.address
        line = f"  {node}  {addr:<20} netns {getattr(host, 'netns', '-'):<16} {run:<8} pid {rec.get('pid', '-')}"
        if rec.get("clock_offset"):
            line += f"  clock {rec['clock_offset']:+g}s"
        if node in statuses:
            line += f"  status {_safe(statuses[node])}"
        _echo(line)


@click.group("cluster")
def cluster_group():
    """Local clusters on network namespaces (needs root), with a system or with sshd hosts (--ssh)."""


@cluster_group.command("up")
@click.option("--nodes", "n", type=int, default=3, show_default=True, help="Number of nodes.")
@click.option("--system", "system_name", default="echo", show_default=True, help="System to start on the nodes.")
@click.option("--variant", default="correct", show_default=True)
@click.option("--subnet", default=None, help="IPv4 /24 (or larger) for the cluster (default: a free 10.77.X.0/24).")
@click.option("--ssh", is_flag=True, help="Instead of a system, run an OpenSSH server in each namespace and print a "
              "hosts file for 'splitbrain run --hosts' (the SSH mode, on this machine).")
@click.option("--lazyfs", is_flag=True, help="Put each node's data dir on the file system that forgets what was not "
              "fsynced (for 'nemesis lose-unfsynced').")
def cluster_up(n, system_name, variant, subnet, ssh, lazyfs):
    """Create N namespace hosts, start the system on them and leave them running."""
    from splitbrain.harness.hosts.local_cluster import create_local_cluster

    if n < 1:
        raise BadInput("need at least one node", "--nodes")
    store = StateStore()
    if ssh:
        if subnet is not None:
            raise BadInput("--subnet can't be combined with --ssh", "--subnet")
        _ssh_hosts_up(n, store)
        return
    system = get_system(system_name)
    c = create_local_cluster(n, subnet=subnet, store=store)
    try:
        if lazyfs:
            from splitbrain.nemesis import FAULTS
            FAULTS["lose-unfsynced"].prepare(c)
        c.start_system(system, variant)
    except BaseException:
        c.down()
        raise
    c.leave_running = True
    store.set_current(c.run_id)
    _print_cluster(c, with_status=False)
    _echo(f"left running; tear down with 'splitbrain cluster down' (state: {store.path(c.run_id)})")


def _ssh_hosts_up(n: int, store) -> None:
    """``cluster up --ssh``: N sshd hosts (splitbrain.harness.testing.sshd_hosts, one network namespace each), left running as the
    current cluster; their directory (keys, configs, hosts file) is recorded so that 'cluster down' removes it."""
    from splitbrain.harness.testing.sshd_hosts import create_sshd_hosts

    hosts_file, known_hosts, handle = create_sshd_hosts(n, netns=True, store=store)
    c = handle.cluster
    try:
        store.add_resource(c.run_id, {"kind": "dir", "path": str(handle.base_dir)})
    except BaseException:
        handle.cleanup()
        raise
    store.set_current(c.run_id)
    _print_cluster(c, with_status=False)
    _echo(f"hosts file:  {hosts_file}")
    _echo(f"known_hosts: {known_hosts}")
    _echo(f"run a test on them with 'splitbrain run --hosts {hosts_file} ...'; tear down with "
          f"'splitbrain cluster down' (state: {store.path(c.run_id)})")


@cluster_group.command("status")
@run_id_option
def cluster_status(run_id):
    """Show the current cluster: nodes, addresses, processes, clocks and each node's own status."""
    from splitbrain.harness.hosts.local_cluster import attach
    _print_cluster(attach(run_id), with_status=True)


@cluster_group.command("down")
@run_id_option
def cluster_down(run_id):
    """Stop every node and remove the cluster (same as 'splitbrain cleanup --run-id')."""
    store = StateStore()
    run_id = run_id or store.current()
    if run_id is None:
        _echo("no current cluster; nothing to do")
        return
    _run_cleanup(store, run_id)


def _run_cleanup(store, run_id):
    from splitbrain.harness.hosts.cleanup import cleanup, raise_on_problems
    reports = cleanup(store, run_id)
    for r in reports:
        if r.skipped_reason:
            _echo(f"{r.run_id}: skipped ({r.skipped_reason}; use --run-id {r.run_id} to remove it anyway)")
        elif r.removed or r.killed:
            _echo(f"{r.run_id}: removed {len(r.removed)} resources, killed {len(r.killed)} processes")
    raise_on_problems(reports)
    if not any(r.removed or r.killed for r in reports):
        _echo("nothing to clean up")


@click.command("cleanup")
@run_id_option
def cleanup_cmd(run_id):
    """Remove every process, namespace, interface and temp dir recorded in the state files. Idempotent."""
    if run_id is not None:
        check_run_id(run_id)
    _run_cleanup(StateStore(), run_id)


@click.group("nemesis")
def nemesis_group():
    """Apply faults to the current cluster by hand and watch what happens."""


def _apply(run_id, f, value) -> None:
    from splitbrain.harness.hosts.local_cluster import attach
    from splitbrain.nemesis import apply
    result = apply(attach(run_id), Invocation(f, value))
    _echo(f"{f}: {json.dumps(result, sort_keys=True)}")


@nemesis_group.command("partition")
@click.option("--shape", required=True, help="halves, random-halves, isolate, majorities-ring, bridge, one-way.")
@click.option("--node", default=None, help="The node 'isolate' cuts off (default: a random one).")
@click.option("--seed", type=int, default=None, help="Seed for the random shapes.")
@run_id_option
def nemesis_partition(shape, node, seed, run_id):
    """Cut the network into a shape (replaces any earlier partition)."""
    from splitbrain.harness.hosts.local_cluster import attach
    from splitbrain.nemesis.grudge import SHAPES
    if shape not in SHAPES:
        raise BadInput(f"unknown shape {shape!r} (known: {', '.join(SHAPES)})", "--shape")
    nodes = attach(run_id).nodes
    if node is not None and node not in nodes:
        raise BadInput(f"no node {node!r} (nodes: {', '.join(nodes)})", "--node")
    grudge = SHAPES[shape](nodes, random.Random(seed), node)
    _apply(run_id, "start-partition", {"shape": shape, "grudge": grudge})


@nemesis_group.command("heal")
@run_id_option
def nemesis_heal(run_id):
    """Undo every fault: resume, heal partitions and loss, reset clocks, restart killed nodes."""
    from splitbrain.harness.hosts.local_cluster import attach
    from splitbrain.history.errors import ClusterError
    from splitbrain.nemesis import heal_all
    from splitbrain.nemesis.faults.heal import heal_errors
    healed = heal_all(attach(run_id))
    _echo(f"heal: {json.dumps(healed, sort_keys=True)}")
    if heal_errors(healed):
        raise ClusterError(f"could not heal {', '.join(heal_errors(healed))} (see the errors above)")


def _process_command(name: str, f: str, helptext: str):
    @nemesis_group.command(name, help=helptext)
    @click.argument("node")
    @run_id_option
    def cmd(node, run_id):
        from splitbrain.harness.hosts.local_cluster import attach
        attach(run_id).host(node)  # BadInput for an unknown node
        _apply(run_id, f, {"target": "node", "nodes": [node]})
    return cmd


_process_command("kill", "start-kill", "SIGKILL a node's processes.")
_process_command("restart", "stop-kill", "Start a killed node again (same data dir).")
_process_command("pause", "start-pause", "SIGSTOP a node.")
_process_command("lose-unfsynced", "start-lose-unfsynced",
                 "Power loss: kill a node, drop what it did not fsync, start it again (needs cluster up --lazyfs).")
_process_command("resume", "stop-pause", "SIGCONT a node.")


@nemesis_group.command("corrupt")
@click.argument("node")
@click.option("--file", "files", multiple=True, help="Glob pattern(s) relative to the data dir (default: the "
              "system's log and snapshot files).")
@click.option("--mode", type=click.Choice(["bitflip", "truncate"]), default="bitflip", show_default=True)
@click.option("--flips", type=click.IntRange(1, 64), default=1, show_default=True, help="Bytes with a flipped bit.")
@click.option("--seed", type=int, default=0, show_default=True, help="Which file and offsets.")
@run_id_option
def nemesis_corrupt(node, files, mode, flips, seed, run_id):
    """Stop a node, damage one file of its data dir, start it again (what changed is printed)."""
    from splitbrain.harness.hosts.local_cluster import attach
    cluster = attach(run_id)
    cluster.host(node)
    if not files:  # the system's own log and snapshot files
        name = (cluster.state().get("system") or {}).get("name")
        files = tuple(getattr(get_system(name), "data_files", ())) if name else ()
    rng = random.Random(seed)
    _apply(run_id, "start-corrupt", {"target": "node", "nodes": [node], "mode": mode, "flips": flips,
                                     "files": list(files), "pick": rng.random(), "seed": seed})


@nemesis_group.command("clock")
@click.argument("node")
@click.option("--offset", type=float, required=True, help="Seconds ahead (negative: behind) of real time.")
@run_id_option
def nemesis_clock(node, offset, run_id):
    """Set a node's clock offset (its running process sees it at once)."""
    _apply(run_id, "start-clock", {"mode": "offset", "nodes": [node], "seconds": {node: offset}})


@nemesis_group.command("loss")
@click.option("--probability", type=click.FloatRange(0.0, 1.0), required=True)
@click.option("--node", "nodes", multiple=True, help="Node(s) that lose incoming packets (default: all).")
@run_id_option
def nemesis_loss(probability, nodes, run_id):
    """Drop incoming packets at random on some or all nodes (0 keeps the rule but drops nothing)."""
    from splitbrain.harness.hosts.local_cluster import attach
    c = attach(run_id)
    for n in nodes:
        c.host(n)
    _apply(run_id, "start-loss", {"nodes": list(nodes) or c.nodes, "probability": probability})


def _link_grudge(run_id, shape: str, node: str | None, seed: int | None) -> dict:
    """The links a slow-network command affects, as a partition shape would cut them."""
    from splitbrain.harness.hosts.local_cluster import attach
    from splitbrain.nemesis.grudge import SHAPES
    if shape not in SHAPES:
        raise BadInput(f"unknown shape {shape!r} (known: {', '.join(SHAPES)})", "--shape")
    nodes = attach(run_id).nodes
    if node is not None and node not in nodes:
        raise BadInput(f"no node {node!r} (nodes: {', '.join(nodes)})", "--node")
    return SHAPES[shape](nodes, random.Random(seed), node)


def _link_options(fn):
    fn = click.option("--shape", default="all", show_default=True,
                      help="Which links, as a partition shape: all, halves, isolate, one-way, ...")(fn)
    fn = click.option("--node", default=None, help="The node 'isolate' singles out.")(fn)
    fn = click.option("--seed", type=int, default=0, show_default=True, help="Seed (shapes, jitter, draws).")(fn)
    return run_id_option(fn)


@nemesis_group.command("delay")
@click.option("--ms", type=click.FloatRange(0.0, 5000.0), required=True, help="Added one-way delay per packet.")
@click.option("--jitter-ms", type=click.FloatRange(0.0, 5000.0), default=0.0, show_default=True)
@_link_options
def nemesis_delay(ms, jitter_ms, shape, node, seed, run_id):
    """Delay the packets on some links between nodes (replaces any delay/duplicate/reorder)."""
    _apply(run_id, "start-delay", {"shape": shape, "grudge": _link_grudge(run_id, shape, node, seed),
                                   "delay_ms": ms, "jitter_ms": jitter_ms, "seed": seed})


@nemesis_group.command("duplicate")
@click.option("--probability", type=click.FloatRange(0.0, 1.0), required=True, help="Share of packets sent twice.")
@_link_options
def nemesis_duplicate(probability, shape, node, seed, run_id):
    """Send some packets twice on some links between nodes (replaces any delay/duplicate/reorder)."""
    _apply(run_id, "start-duplicate", {"shape": shape, "grudge": _link_grudge(run_id, shape, node, seed),
                                       "duplicate": probability, "seed": seed})


@nemesis_group.command("reorder")
@click.option("--probability", type=click.FloatRange(0.0, 1.0), required=True, help="Share of packets held back.")
@click.option("--ms", type=click.FloatRange(0.0, 5000.0), default=20.0, show_default=True,
              help="How long a held-back packet waits (later ones overtake it).")
@_link_options
def nemesis_reorder(probability, ms, shape, node, seed, run_id):
    """Reorder packets on some links between nodes (replaces any delay/duplicate/reorder)."""
    _apply(run_id, "start-reorder", {"shape": shape, "grudge": _link_grudge(run_id, shape, node, seed),
                                     "reorder": probability, "reorder_ms": ms, "seed": seed})


@nemesis_group.command("rate")
@click.option("--kbit", type=click.IntRange(8, 10_000_000), required=True, help="Cap per link, kilobits/s.")
@_link_options
def nemesis_rate(kbit, shape, node, seed, run_id):
    """Cap the bandwidth of some links between nodes (replaces any earlier cap)."""
    _apply(run_id, "start-rate", {"shape": shape, "grudge": _link_grudge(run_id, shape, node, seed),
                                  "kbit": kbit})


def register(group: click.Group) -> None:
    group.add_command(cluster_group)
    group.add_command(nemesis_group)
    group.add_command(cleanup_cmd)
