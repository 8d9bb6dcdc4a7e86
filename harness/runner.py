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
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbrain.harness import store
from splitbrain.harness.analysis import check_history, checkers_for_run, render_report
from splitbrain.harness.api import (Completion, Invocation, KnowsLeader, KnowsPrimaries, NodeAddress, Ready, ReportsRoles,
                         ReportsState)
from splitbrain.harness.errors import BadInput
from splitbrain.harness.history import NEMESIS, HistoryWriter, read_history
from splitbrain.harness.progress import Progress
from splitbrain.harness.spec import TestSpec
from splitbrain.harness.startup import await_ready, wait_listening
from splitbrain.harness.workers import ClientWorker, NemesisWorker

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
    from splitbrain.harness.systems import get_system
    from splitbrain.harness.workloads import get_workload

    system = get_system(spec.system)
    workload = get_workload(spec.workload)
    if system.variants and spec.variant not in system.variants:
        raise BadInput(f"{system.name} has no variant {spec.variant!r} (known: {', '.join(system.variants)})",
                       "--variant")
    if system.workloads and spec.workload not in system.workloads:
        raise BadInput(f"{system.name} does not support the {spec.workload!r} workload (it supports: "
                       f"{', '.join(system.workloads)})", "--workload")
    _check_faults(spec, system)
    spec = _with_plugins(spec)
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
                from splitbrain.nemesis import PACKAGES
                for name in spec.nemesis:  # e.g. lose-unfsynced puts the data dirs on its file system first
                    PACKAGES[name].prepare(cluster)
                addrs = cluster.start_system(system, spec.variant, options)
                wait_listening(addrs, cluster, timeout=float(getattr(system, "start_timeout", 20.0)),
                               copies=run_dir / "nodes")
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
        from splitbrain.harness.ssh_cluster import create_ssh_cluster
        return create_ssh_cluster(spec.hosts_file, spec.nodes)
    from splitbrain.harness.cluster import create_local_cluster
    return create_local_cluster(spec.nodes)


def _collect_logs(cluster, dest: Path) -> None:
    """Copy the nodes' logs into the run dir, best effort: a failure here must not hide the run's own error."""
    try:
        cluster.collect_logs(str(dest))
    except Exception as e:  # noqa: BLE001 - e.g. a host that became unreachable; the run's outcome matters more
        log.warning("could not collect every node's logs: %s", e)


def _check_faults(spec: TestSpec, system) -> None:
    """Refuse (BadInput, before anything starts) a fault the cluster size or the system can't support."""
    from splitbrain.nemesis import PACKAGES
    for name in spec.nemesis:
        pkg = PACKAGES[name]
        pkg.check_nodes(spec.nodes)
        if getattr(pkg, "wants_roles", False) and not isinstance(system, ReportsRoles):
            raise BadInput(f"the {name} fault steers by the nodes' roles, and {system.name} does not report them "
                           "(the ReportsRoles capability)", "--nemesis")
        if name == "clock" and not getattr(system, "faketime", True):
            raise BadInput(f"{system.name} runs without the clock shim (its System says faketime = False), so the "
                           "clock fault could not move its clocks", "--nemesis")
        for t in spec.nemesis_targets:
            if t not in pkg.accepts:
                raise BadInput(f"the {name} fault can't be aimed at {t!r} (it takes: "
                               f"{', '.join(pkg.accepts) or 'no targets: it picks its nodes itself'})",
                               "--nemesis-targets")
    for t in spec.nemesis_targets:
        need = {"leader": KnowsLeader, "primaries": KnowsPrimaries}.get(t)
        if need is not None and not isinstance(system, need):
            raise BadInput(f"{system.name} can't say which nodes are its {t} (the {need.__name__} capability)",
                           "--nemesis-targets")


def _with_plugins(spec: TestSpec) -> TestSpec:
    """The spec with the plugin modules (``--plugin``) that registered its system or workload recorded, and where
    each was imported from when it is not installed, so replay, the report's command and suites load them again."""
    from splitbrain.harness.plugins import loaded_plugins
    found = loaded_plugins(spec.system, spec.workload)
    plugins = tuple(dict.fromkeys([*spec.plugins, *found]))
    paths = {**{m: p for m, p in found.items() if p}, **spec.plugin_paths}
    return dataclasses.replace(spec, plugins=plugins, plugin_paths=paths)


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
        target = value.get("target") if isinstance(value, dict) else None
        if isinstance(value, dict) and value.get("shape") == "isolate-leader":
            target = "leader"
        if target == "leader" and isinstance(self.system, KnowsLeader):
            leader, term = await self._current_leader()
            op = self._aimed(op, [leader] if leader is not None else [], {"leader": leader, "term": term})
        elif target == "primaries" and isinstance(self.system, KnowsPrimaries):
            op = self._aimed(op, await self._current_primaries(), {})
        return await super().invoke(process, op)

    def _aimed(self, op: Invocation, nodes: list[str], extra: dict) -> Invocation:
        """``op`` aimed at ``nodes`` (the leader or the primaries now); the plan's own fallback node when there
        are none, and the history says so. A partition is re-cut around them."""
        value = op.value
        if not nodes:
            return Invocation(op.f, {**value, "fallback": True}, op.key)
        if value.get("shape") == "isolate-leader":
            from splitbrain.nemesis.grudge import isolate
            return Invocation(op.f, {**value, "grudge": isolate(self.cluster.nodes, None, nodes[0]), **extra}, op.key)
        value = {**value, "nodes": sorted(nodes), **({"term": extra["term"]} if "term" in extra else {})}
        if value.get("shape") == "cut-off":
            from splitbrain.nemesis.targets import cut_off
            value["grudge"] = cut_off(self.cluster.nodes, nodes)
        return Invocation(op.f, value, op.key)

    async def _current_primaries(self) -> list[str]:
        """The primaries the system reports, asking again every 0.1 s for up to one op timeout."""
        deadline = time.monotonic() + self.op_timeout
        while True:
            try:
                found = await self.system.primaries(self.addrs, self.op_timeout)
            except Exception as e:  # nodes down or cut off: ask again
                log.debug("primaries poll: %s", e)
                found = []
            found = sorted(n for n in (found or []) if n in self.cluster.nodes)
            if found or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(0.1)

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
    from splitbrain.harness import generator as g
    from splitbrain.harness.interpreter import run as interpret
    from splitbrain.nemesis import PACKAGES

    options = spec.options
    threads = spec.threads
    rng = random.Random(spec.seed)
    workers: dict[Any, Any] = {
        t: ClientWorker(lambda: system.client(spec.variant, options), addrs[t % len(addrs)], spec.op_timeout,
                        addrs)
        for t in range(threads)
    }
    packages = {name: _configured(PACKAGES[name], options, spec.nemesis_targets) for name in spec.nemesis}
    for name, pkg in packages.items():
        # A fault that damages a system's files (corrupt) damages the ones the system declares, unless told.
        if "patterns" in {f.name for f in dataclasses.fields(pkg)} and not pkg.patterns:
            packages[name] = dataclasses.replace(pkg, patterns=tuple(getattr(system, "data_files", ())))
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

    if isinstance(system, Ready):
        ui.set_phase("waiting until ready")
        seconds = await await_ready(system, addrs, float(getattr(system, "ready_timeout", 30.0)))
        with open(run_dir / store.ANNOTATIONS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": 0, "kind": "ready", "seconds": round(seconds, 3)}) + "\n")

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


def _configured(package, options: dict, targets: tuple[str, ...] = ()):
    """A fault package with the test's options applied: ``partition_shapes``, ``kill_targets``,
    ``pause_targets``, ``delay_amounts`` (lists), ``corrupt_flips`` (a number), ``corrupt_modes`` (a list; ``<fault>_targets``/``<fault>_amounts``
    for any fault with those fields) narrow what the package plans; ``targets`` (``--nemesis-targets``, checked by
    :func:`_check_faults`) replaces every package's targets."""
    fields = {f.name for f in dataclasses.fields(package)}
    changes = {}
    if "shapes" in fields and options.get(f"{package.name}_shapes"):  # partition_shapes, delay_shapes, ...
        changes["shapes"] = tuple(options[f"{package.name}_shapes"])
    if "targets" in fields and options.get(f"{package.name}_targets"):
        changes["targets"] = tuple(options[f"{package.name}_targets"])
    if "targets" in fields and targets:
        changes["targets"] = tuple(targets)
    if "amounts" in fields and options.get(f"{package.name}_amounts"):
        changes["amounts"] = tuple(options[f"{package.name}_amounts"])
    if "modes" in fields and options.get(f"{package.name}_modes"):  # corrupt_modes
        changes["modes"] = tuple(options[f"{package.name}_modes"])
    if "flips" in fields and options.get(f"{package.name}_flips"):
        changes["flips"] = int(options[f"{package.name}_flips"])
    return dataclasses.replace(package, **changes) if changes else package
