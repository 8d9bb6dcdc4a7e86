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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbrain.harness.run.fault_view import SystemFaultView
from splitbrain.harness.api import (
    KnowsLeader,
    KnowsPrimaries,
    NodeAddress,
    Ready,
    ReportsRoles,
    ReportsState,
)
from splitbrain.harness.hosts.local_cluster import create_local_cluster
from splitbrain.harness.hosts.ssh_cluster import create_ssh_cluster
from splitbrain.harness.plugins import loaded_plugins
from splitbrain.harness.run import run_dirs as store
from splitbrain.harness.run.analysis import check_history, checkers_for_run, render_report
from splitbrain.harness.run.interpreter import run as interpret
from splitbrain.harness.run.loop_watch import LoopWatch, Stall
from splitbrain.harness.run.plan import build_plan
from splitbrain.harness.run.progress import Progress
from splitbrain.harness.run.spec import TestSpec
from splitbrain.harness.run.startup import await_ready, wait_listening
from splitbrain.harness.run.workers import ClientWorker, NemesisWorker
from splitbrain.harness.systems import get_system
from splitbrain.harness.workloads import get_workload
from splitbrain.history.errors import BadInput
from splitbrain.history.ops import NEMESIS, HistoryWriter, read_history
from splitbrain.nemesis import FAULTS

log = logging.getLogger(__name__)



@dataclass
class RunOutcome:
    run_dir: Path
    results: dict


def run_test(spec: TestSpec, *, store_root: Path, keep_cluster: bool = False, progress: bool = True,
             fault_schedule: list[dict] | None = None) -> RunOutcome:
    """Run ``spec`` end to end and return the run directory and the combined results.

    ``fault_schedule`` replaces the seeded fault cycle with exact faults: ``{"time": ns, "f", "value"}`` each,
    applied at those times since the start (``replay`` passes the faults of a stored history)."""

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
            store.write_json(run_dir / store.CLUSTER_FILE, {"run_id": cluster.run_id, "nodes": cluster.nodes,
                                                        "mode": "ssh" if spec.hosts_file else "local"})
            try:
                ui.set_phase("starting nodes")
                for name in spec.nemesis:  # e.g. lose-unfsynced puts the data dirs on its file system first
                    FAULTS[name].prepare(cluster)
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
        return create_ssh_cluster(spec.hosts_file, spec.nodes)
    return create_local_cluster(spec.nodes)


def _collect_logs(cluster, dest: Path) -> None:
    """Copy the nodes' logs into the run dir, best effort: a failure here must not hide the run's own error."""
    try:
        cluster.collect_logs(str(dest))
    except Exception as e:  # noqa: BLE001 - e.g. a host that became unreachable; the run's outcome matters more
        log.warning("could not collect every node's logs: %s", e)


def _check_faults(spec: TestSpec, system) -> None:
    """Refuse (BadInput, before anything starts) a fault the cluster size or the system can't support."""
    for name in spec.nemesis:
        fault = FAULTS[name]
        fault.check_nodes(spec.nodes)
        fault.check_system(system)
        for t in spec.nemesis_targets:
            if t not in fault.accepts:
                raise BadInput(f"the {name} fault can't be aimed at {t!r} (it takes: "
                               f"{', '.join(fault.accepts) or 'no targets: it picks its nodes itself'})",
                               "--nemesis-targets")
    for t in spec.nemesis_targets:
        need = {"leader": KnowsLeader, "primaries": KnowsPrimaries}.get(t)
        if need is not None and not isinstance(system, need):
            raise BadInput(f"{system.name} can't say which nodes are its {t} (the {need.__name__} capability)",
                           "--nemesis-targets")


def _with_plugins(spec: TestSpec) -> TestSpec:
    """The spec with the plugin modules (``--plugin``) that registered its system or workload recorded, and where
    each was imported from when it is not installed, so replay, the report's command and suites load them again."""
    found = loaded_plugins(spec.system, spec.workload)
    plugins = tuple(dict.fromkeys([*spec.plugins, *found]))
    paths = {**{m: p for m, p in found.items() if p}, **spec.plugin_paths}
    return dataclasses.replace(spec, plugins=plugins, plugin_paths=paths)


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
    """The run on its event loop, watched for client code that blocks the loop (each such stall is logged where
    it happens and noted in annotations.jsonl, kind ``loop-stall``, for the report)."""
    clock = [lambda: 0]  # the history's clock once it exists
    lock = threading.Lock()

    def note_stall(stall: Stall) -> None:
        with lock, open(run_dir / store.ANNOTATIONS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": clock[0](), "kind": "loop-stall", "seconds": stall.seconds,
                                "where": stall.where}) + "\n")

    async with LoopWatch(on_stall=note_stall):
        await _drive_watched(spec, system, workload, cluster, addrs, run_dir, history_path, ui, fault_schedule,
                             clock)


async def _drive_watched(spec: TestSpec, system, workload, cluster, addrs, run_dir: Path, history_path: Path,
                         ui: Progress, fault_schedule: list[dict] | None, clock: list) -> None:
    options = spec.options
    threads = spec.threads
    # Clients that call blocking drivers through asyncio.to_thread share the loop's default executor, which holds
    # min(32, cores + 4) threads: six here, so a run of ten such clients would queue ops behind each other (and
    # count their wait against the op's timeout). Room for every client, twice over, plus the system's polls.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=2 * threads + 8, thread_name_prefix="splitbrain-client"))
    rng = random.Random(spec.seed)
    workers: dict[Any, Any] = {
        t: ClientWorker(lambda: system.client(spec.variant, options), addrs[t % len(addrs)], spec.op_timeout,
                        addrs)
        for t in range(threads)
    }
    faults = {name: _configured(FAULTS[name], options, spec.nemesis_targets).for_system(system)
              for name in spec.nemesis}
    # Without faults of its own (a replay, or none) the worker still knows every fault: a replayed op or the final
    # heal may need any of them.
    view = SystemFaultView(system, addrs, spec.op_timeout, asyncio.get_running_loop(), cluster.nodes)
    nemesis_worker = NemesisWorker(cluster, faults or FAULTS, view)
    workers[NEMESIS] = nemesis_worker

    gen = build_plan(spec, workload, faults, cluster.nodes, fault_schedule)

    if isinstance(system, Ready):
        ui.set_phase("waiting until ready")
        seconds = await await_ready(system, addrs, float(getattr(system, "ready_timeout", 30.0)))
        with open(run_dir / store.ANNOTATIONS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": 0, "kind": "ready", "seconds": round(seconds, 3)}) + "\n")

    watcher = None
    with HistoryWriter(history_path) as history:
        clock[0] = history.now
        if isinstance(system, KnowsLeader):
            watcher = asyncio.create_task(_watch_leaders(system, addrs, run_dir / store.ANNOTATIONS_FILE, history))
        ui.start()
        ui.set_phase("running")
        view.ends_at = time.monotonic() + spec.time_limit  # the load phase's end (plan.py: time_limit, then heal)
        try:
            await interpret(gen, workers=workers, history=history, rng=rng, concurrency=threads,
                            on_event=ui.on_op)
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            # Whatever happened, leave no fault behind (the generator's heal-all may not have run).
            try:
                await nemesis_worker.heal_all()
            finally:
                nemesis_worker.close()
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


def _configured(fault, options: dict, targets: tuple[str, ...] = ()):
    """A fault with the test's options applied: ``partition_shapes``, ``kill_targets``, ``pause_targets``,
    ``delay_amounts`` (lists), ``corrupt_flips`` (a number), ``corrupt_modes`` (a list;
    ``<fault>_targets``/``<fault>_amounts`` for any fault with those fields) narrow what the fault plans; ``targets`` (``--nemesis-targets``, checked by
    :func:`_check_faults`) replaces every fault's targets."""
    fields = {f.name for f in dataclasses.fields(fault)}
    changes = {}
    if "shapes" in fields and options.get(f"{fault.name}_shapes"):  # partition_shapes, delay_shapes, ...
        changes["shapes"] = tuple(options[f"{fault.name}_shapes"])
    if "targets" in fields and options.get(f"{fault.name}_targets"):
        changes["targets"] = tuple(options[f"{fault.name}_targets"])
    if "targets" in fields and targets:
        changes["targets"] = tuple(targets)
    if "amounts" in fields and options.get(f"{fault.name}_amounts"):
        changes["amounts"] = tuple(options[f"{fault.name}_amounts"])
    if "modes" in fields and options.get(f"{fault.name}_modes"):  # corrupt_modes
        changes["modes"] = tuple(options[f"{fault.name}_modes"])
    if "flips" in fields and options.get(f"{fault.name}_flips"):
        changes["flips"] = int(options[f"{fault.name}_flips"])
    return dataclasses.replace(fault, **changes) if changes else fault
