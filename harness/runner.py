"""The runner: one test from spec to verdict.

cluster up -> nodes started -> clients and nemesis driven by one generator through the interpreter, with the history
written as it goes -> final heal, recovery pause, final reads on every node -> logs collected -> cluster down ->
checkers -> results.json -> report.html.

The cluster is always torn down (on errors and Ctrl-C too) unless ``keep_cluster`` is set; whatever a killed
controller leaves behind, ``splitbrain cleanup`` removes from the state files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import store
from harness.analysis import check_history, checkers_for_run, render_report
from harness.api import Completion, Invocation, KnowsLeader, NodeAddress, ReportsRoles, ReportsState
from harness.errors import BadInput, ClusterError, UnreachableNode
from harness.history import NEMESIS, HistoryWriter, read_history
from harness.progress import Progress
from harness.spec import TestSpec
from harness.workers import ClientWorker, NemesisWorker

log = logging.getLogger(__name__)

HEAL_ALL = "heal-all"


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict


def run_test(spec: TestSpec, *, store_root: Path, keep_cluster: bool = False, progress: bool = True,
             fault_schedule: list[dict] | None = None) -> RunOutcome:
    """Run ``spec`` end to end and return the run directory and the combined results.

    ``fault_schedule`` replaces the seeded fault cycle with exact faults: ``{"time": ns, "f", "value"}`` each,
    applied at those times since the start (``replay`` passes the faults of a stored history)."""
    from harness.systems import get_system
    from harness.workloads import get_workload

    system = get_system(spec.system)
    workload = get_workload(spec.workload)
    if system.variants and spec.variant not in system.variants:
        raise BadInput(f"{system.name} has no variant {spec.variant!r} (known: {', '.join(system.variants)})",
                       "--variant")
    if system.workloads and spec.workload not in system.workloads:
        raise BadInput(f"{system.name} does not support the {spec.workload!r} workload (it supports: "
                       f"{', '.join(system.workloads)})", "--workload")
    from nemesis import PACKAGES
    for name in spec.nemesis:
        PACKAGES[name].check_nodes(spec.nodes)
        if getattr(PACKAGES[name], "wants_roles", False) and not isinstance(system, ReportsRoles):
            raise BadInput(f"the {name} fault steers by the nodes' roles, and {system.name} does not report them "
                           "(the ReportsRoles capability)", "--nemesis")
    options = {**workload.defaults, **system.workload_options(spec.workload), **spec.options,
               "workload": spec.workload, "op_timeout": spec.op_timeout}
    spec = dataclasses.replace(spec, options=options)

    run_dir = store.new_run_dir(store_root, spec.name)
    store.write_json(run_dir / store.TEST_FILE, {
        "name": spec.name, **spec.to_dict(), "nodes": [f"n{i}" for i in range(1, spec.nodes + 1)],
        "node_count": spec.nodes, "command": spec.command(), "versions": store.versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    ui = Progress(spec.time_limit, enabled=progress)
    cluster = _make_cluster(spec, run_dir)
    history_path = run_dir / store.HISTORY_FILE
    try:
        with cluster:
            cluster.leave_running = keep_cluster
            store.write_json(run_dir / "cluster.json", {"run_id": cluster.run_id, "nodes": cluster.nodes,
                                                        "mode": "ssh" if spec.hosts_file else "local"})
            try:
                ui.set_phase("starting nodes")
                addrs = cluster.start_system(system, spec.variant, options)
                _wait_ready(addrs, cluster, timeout=20.0)
                asyncio.run(_drive(spec, system, workload, cluster, addrs, run_dir, history_path, ui,
                                   fault_schedule))
            finally:
                # Also after an error or Ctrl-C: the node logs are the evidence of what went wrong.
                ui.set_phase("collecting logs")
                _collect_logs(cluster, run_dir / "nodes")
    finally:
        ui.stop()
    ui_line = sys.stderr if progress else None
    if ui_line:
        print("checking the history ...", file=ui_line, flush=True)
    history = read_history(history_path)
    results = check_history(history, checkers_for_run(store.read_json(run_dir / store.TEST_FILE), run_dir))
    store.write_json(run_dir / store.RESULTS_FILE, results)
    render_report(run_dir)
    return RunOutcome(run_dir, results)


def _make_cluster(spec: TestSpec, run_dir: Path):
    if spec.hosts_file:
        from harness.ssh_cluster import create_ssh_cluster
        return create_ssh_cluster(spec.hosts_file, spec.nodes)
    from harness.cluster import create_local_cluster
    return create_local_cluster(spec.nodes)


def _collect_logs(cluster, dest: Path) -> None:
    """Copy the nodes' logs into the run dir, best effort: a failure here must not hide the run's own error."""
    try:
        cluster.collect_logs(str(dest))
    except Exception as e:  # noqa: BLE001 - e.g. a host that became unreachable; the run's outcome matters more
        log.warning("could not collect every node's logs: %s", e)


def _wait_ready(addrs: list[NodeAddress], cluster, timeout: float) -> None:
    """Block until every node accepts TCP connections; a node that dies or never listens is reported with its
    log path."""
    deadline = time.monotonic() + timeout
    pending = list(addrs)
    while pending:
        a = pending[0]
        try:
            with socket.create_connection((a.host, a.port), timeout=0.5):
                pending.pop(0)
                continue
        except OSError:
            pass
        if not cluster.is_running(a.name):
            raise ClusterError(f"node {a.name} exited while starting; see its log in "
                               f"{cluster.node_dir(a.name)}/node.stderr.log")
        if time.monotonic() > deadline:
            raise UnreachableNode(f"node did not accept connections within {timeout:g} s",
                                  f"{a.name} ({a.endpoint})")
        time.sleep(0.1)


class _LeaderAwareNemesis(NemesisWorker):
    """The nemesis worker, plus: ``heal-all`` heals every package; a process fault aimed at the leader hits the
    node the system reports as leader at the moment it is applied (the generator, being pure, can't know it)."""

    def __init__(self, cluster, packages, system, addrs, op_timeout):
        super().__init__(cluster, packages)
        self.system = system
        self.addrs = addrs
        self.op_timeout = op_timeout
        if isinstance(system, ReportsRoles):
            self.roles_fn = self._roles_from_thread(asyncio.get_running_loop())

    def _roles_from_thread(self, loop):
        """A blocking ``roles(names)`` for a package's thread: asks the system on the runner's event loop."""
        by_name = {a.name: a for a in self.addrs}

        def roles(names):
            fut = asyncio.run_coroutine_threadsafe(self.system.roles([by_name[n] for n in names], 0.3), loop)
            try:
                return fut.result(timeout=2.0)
            except Exception as e:  # nodes down or cut off answer nothing; the package waits and asks again
                log.debug("roles poll: %s", e)
                return {}
        return roles

    async def invoke(self, process, op: Invocation) -> Completion:
        if op.f == HEAL_ALL:
            return Completion("ok", {name: v for name, v in await self.heal_all()})
        value = op.value
        aimed = isinstance(value, dict) and (value.get("target") == "leader" or value.get("shape") == "isolate-leader")
        if aimed and isinstance(self.system, KnowsLeader):
            leader, term = await self._current_leader()
            if leader is None:
                # Mid-election: the plan's own fallback node gets the fault, and the history says so.
                op = Invocation(op.f, {**value, "fallback": True}, op.key)
            elif value.get("target") == "leader":
                op = Invocation(op.f, {**value, "nodes": [leader], "term": term}, op.key)
            else:
                from nemesis.grudge import isolate
                grudge = isolate(self.cluster.nodes, None, leader)
                op = Invocation(op.f, {**value, "grudge": grudge, "leader": leader, "term": term}, op.key)
        return await super().invoke(process, op)

    async def _current_leader(self) -> tuple[str | None, int | None]:
        """The leader the system reports, asking again every 0.1 s for up to one op timeout: an election in
        progress usually ends within that, and a fault aimed at "the leader" should hit one."""
        deadline = time.monotonic() + self.op_timeout
        while True:
            leader, term = await self.system.leader(self.addrs, self.op_timeout)
            if leader is not None or time.monotonic() >= deadline:
                return leader, term
            await asyncio.sleep(0.1)


async def _watch_leaders(system, addrs, path: Path, history: HistoryWriter, interval: float = 0.25,
                         claim_interval: float = 0.05) -> None:
    """Record every leader/term change the system reports (annotations.jsonl), for the report's timeline, and
    every node's own claim to lead a term (for the election-safety checker).

    Claims are polled per node, each on its own and often: a second leader of a term may lead for well under a
    second (until the next fault), and one slow or partitioned node must not hold up the polls of the others."""
    with open(path, "a", encoding="utf-8") as f:
        def note(entry: dict) -> None:
            f.write(json.dumps({"time": history.now(), **entry}) + "\n")
            f.flush()

        claims: set[tuple] = set()

        async def watch_claims(addr: NodeAddress) -> None:
            while True:
                try:
                    roles = await system.roles([addr], timeout=0.3)
                except Exception as e:  # the node is down or cut off: ask again
                    log.debug("role poll of %s: %s", addr.name, e)
                    roles = {}
                r = roles.get(addr.name) or {}
                if r.get("role") == "leader" and (addr.name, r.get("term")) not in claims:
                    claims.add((addr.name, r.get("term")))
                    note({"kind": "leader-claim", "node": addr.name, "term": r.get("term")})
                await asyncio.sleep(claim_interval)

        watchers = [asyncio.create_task(watch_claims(a)) for a in addrs] if isinstance(system, ReportsRoles) else []
        last = None
        try:
            while True:
                try:
                    leader, term = await system.leader(addrs, timeout=0.5)
                except Exception as e:  # nodes down or partitioned: just try again
                    log.debug("leader poll: %s", e)
                    leader, term = None, None
                if (leader, term) != last and (leader is not None or last is not None):
                    last = (leader, term)
                    note({"kind": "leader", "node": leader, "term": term})
                await asyncio.sleep(interval)
        finally:
            for w in watchers:
                w.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)


async def _drive(spec: TestSpec, system, workload, cluster, addrs, run_dir: Path, history_path: Path,
                 ui: Progress, fault_schedule: list[dict] | None = None) -> None:
    from harness import generator as g
    from harness.interpreter import run as interpret
    from nemesis import PACKAGES

    options = spec.options
    threads = spec.threads
    rng = random.Random(spec.seed)
    workers: dict[Any, Any] = {
        t: ClientWorker(lambda: system.client(spec.variant, options), addrs[t % len(addrs)], spec.op_timeout)
        for t in range(threads)
    }
    packages = {name: _configured(PACKAGES[name], options) for name in spec.nemesis}
    nemesis_worker = _LeaderAwareNemesis(cluster, PACKAGES if not packages else packages, system, addrs,
                                         spec.op_timeout)
    workers[NEMESIS] = nemesis_worker

    if workload.client_gen is not None:
        client_gen = workload.client_gen(options, rate=spec.rate, nodes=len(addrs))
    else:
        client_gen = g.stagger(1.0 / spec.rate, lambda ctx: workload.client_op(ctx, options))
    main = g.clients(client_gen)
    if fault_schedule is not None:
        ops = [{"f": op["f"], "value": op.get("value"), "time": int(op["time"])} for op in fault_schedule
               if op["f"] != HEAL_ALL]
        if ops:
            main = g.any_of(main, g.nemesis(ops))
    elif packages:
        # The first fault comes after a quiet spell, so the history shows the system healthy first.
        cycle = g.nemesis_cycle(list(packages.values()), spec.nemesis_interval, spec.nemesis_duration,
                                nodes=cluster.nodes)
        quiet = max(0.0, spec.nemesis_interval - spec.nemesis_duration)
        main = g.any_of(main, g.nemesis(g.phases(g.sleep(quiet), cycle)) if quiet else cycle)
    phases = [g.time_limit(spec.time_limit, main), g.nemesis(g.once({"f": HEAL_ALL}))]
    if workload.final_op is not None:
        phases += [g.sleep(spec.recovery_time),
                   g.clients(g.each_thread(g.once(lambda ctx: workload.final_op(ctx, options))))]
    gen = g.phases(*phases)

    watcher = None
    with HistoryWriter(history_path) as history:
        if isinstance(system, KnowsLeader):
            watcher = asyncio.create_task(_watch_leaders(system, addrs, run_dir / store.ANNOTATIONS_FILE, history))
        ui.start()
        ui.set_phase("running")
        try:
            await interpret(gen, workers=workers, history=history, rng=rng, concurrency=threads,
                            on_event=ui.on_op)
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            # Whatever happened, leave no fault behind (the generator's heal-all may not have run).
            await nemesis_worker.heal_all()
            for w in workers.values():
                if isinstance(w, ClientWorker):
                    await w.close()
            if isinstance(system, ReportsState):
                await _save_node_state(system, addrs, run_dir)


async def _save_node_state(system, addrs, run_dir: Path) -> None:
    states = {}
    for a in addrs:
        try:
            states[a.name] = await system.node_state(a, timeout=2.0)
        except Exception as e:
            states[a.name] = {"error": f"{type(e).__name__}: {e}"}
    store.write_json(run_dir / store.NODE_STATE_FILE, states)


def _configured(package, options: dict):
    """A fault package with the test's options applied: ``partition_shapes``, ``kill_targets``,
    ``pause_targets`` (lists) narrow what the package plans."""
    fields = {f.name for f in dataclasses.fields(package)}
    changes = {}
    if "shapes" in fields and options.get("partition_shapes"):
        changes["shapes"] = tuple(options["partition_shapes"])
    if "targets" in fields and options.get(f"{package.name}_targets"):
        changes["targets"] = tuple(options[f"{package.name}_targets"])
    return dataclasses.replace(package, **changes) if changes else package
