"""Local clusters: :func:`create_local_cluster` builds a :class:`~splitbrain.harness.hosts.cluster.Cluster` from
network namespaces on this machine (:mod:`splitbrain.harness.hosts.netns`), and :func:`attach` rebuilds a running one
from its state file (what the ``splitbrain nemesis`` commands do). Both tear down through
:func:`splitbrain.harness.hosts.cleanup.cleanup_run`, working from the recorded resources alone.

Must not: create anything before it is recorded in the run's state (``resources``), or leave anything behind when
creation fails midway (Ctrl-C included).
"""

from __future__ import annotations

import os
import time
from typing import Callable

from splitbrain.harness.hosts import netns
from splitbrain.harness.hosts.cleanup import cleanup_run, raise_on_problems
from splitbrain.harness.hosts.cluster import Cluster
from splitbrain.harness.hosts.netns import NamespaceHost
from splitbrain.harness.hosts.resources import StateStore, check_run_id, owner_record
from splitbrain.history.errors import BadInput



def _local_teardown(store: StateStore, run_id: str) -> Callable[[], None]:
    def teardown() -> None:
        raise_on_problems([cleanup_run(store, run_id)])
    return teardown


def create_local_cluster(n: int, *, run_id: str | None = None, subnet: str | None = None,
                         workdir: str | None = None, store: StateStore | None = None,
                         faketime: bool = True, leave_running: bool = False) -> Cluster:
    """A cluster of ``n`` nodes (``n1``..``nN``), each in its own network namespace on a private bridge.

    Everything is recorded in the state file before it is created; if creation fails midway (Ctrl-C included),
    what was created is removed before the error propagates. ``workdir`` (default ``/tmp/splitbrain-<run id>``,
    removed by cleanup) holds the nodes' directories; a given ``workdir`` is kept by cleanup if it existed.
    """
    store = store or StateStore()
    if not isinstance(n, int) or n < 1:
        raise BadInput(f"need at least one node, not {n!r}", "--nodes")
    nodes = [f"n{i}" for i in range(1, n + 1)]
    with netns.net_lock():
        if run_id is None:
            for _ in range(20):
                run_id = netns.new_run_id()
                if store.read(run_id) is None and not any(ns.startswith(f"sb-{run_id}-")
                                                          for ns in netns.existing_netns()):
                    break
        check_run_id(run_id)
        if store.read(run_id) is not None or netns.link_exists(netns.controller_link(run_id)):
            raise BadInput(f"run id {run_id} is already in use", "--run-id")
        net = netns.pick_subnet([s.get("subnet") for s in store.all_states()], subnet)
        wd = os.path.abspath(workdir) if workdir else f"/tmp/splitbrain-{run_id}"
        store.create(run_id, {"run_id": run_id, "mode": "local", "owner": owner_record(), "created": time.time(),
                              "subnet": str(net), "workdir": wd, "resources": [], "hosts": {}, "nodes": {},
                              "system": None})
        try:
            if not os.path.exists(wd):
                store.add_resource(run_id, {"kind": "dir", "path": wd})
            os.makedirs(os.path.join(wd, "nodes"), exist_ok=True)
            network = netns.LocalNetwork(store, run_id, nodes, net)

            def record_hosts(state: dict) -> None:
                state["controller_address"] = network.controller_address
                state["hosts"] = {n: {"netns": netns.netns_name(run_id, n), "address": network.addresses[n]}
                                  for n in nodes}
            store.update(run_id, record_hosts)
            hosts = network.up()
        except BaseException:
            cleanup_run(store, run_id)
            raise
    return Cluster(run_id, hosts, store=store, workdir=wd, teardown=_local_teardown(store, run_id),
                   faketime=faketime, leave_running=leave_running)


def attach(run_id: str | None = None, store: StateStore | None = None) -> Cluster:
    """The running cluster ``run_id`` (default: the current one of ``splitbrain cluster up``), rebuilt from its
    state file. It is left running when the ``with`` block ends; ``down()`` still tears it down."""
    store = store or StateStore()
    run_id = run_id or store.current()
    if run_id is None:
        raise BadInput("no cluster is running (start one with 'splitbrain cluster up')", "--run-id")
    state = store.read(run_id)
    if state is None:
        raise BadInput(f"no cluster with run id {run_id} in {store.dir}", "--run-id")
    if state.get("mode") != "local":
        raise BadInput(f"run {run_id} is a {state.get('mode')!r} cluster; only local ones can be attached", "--run-id")
    hosts = {n: NamespaceHost(n, h["netns"], h["address"]) for n, h in state["hosts"].items()}
    return Cluster(run_id, hosts, store=store, workdir=state["workdir"], teardown=_local_teardown(store, run_id),
                   faketime=bool((state.get("system") or {}).get("faketime", True)), leave_running=True)
