"""Exact replay: what a stored run needs to be run again the same way.

``replay_inputs(run_dir)`` reads the run's ``test.json`` back into a :class:`TestSpec` (same system, variant,
workload, options, timing and seed) and takes the faults from its ``history.jsonl``: every nemesis *invoke* except
the final ``heal-all``, as ``{"time", "f", "value"}`` with ``time`` in nanoseconds since the test started. Passed to
``run_test(..., fault_schedule=...)`` these make the same faults hit the same nodes at the same times (the client
ops are drawn from the same seed, but their outcomes depend on the system's timing, so the client history is
similar, not identical).

A fault that the original run aimed at "the leader" is re-aimed at whoever leads when it is replayed (as it was
then): the plan says "the leader", not a node. Pure: reads files, starts nothing.
"""

from __future__ import annotations

from pathlib import Path

from splitbrain.harness.plugins import load_plugin
from splitbrain.harness.run import run_dirs as store
from splitbrain.harness.run.spec import TestSpec
from splitbrain.history.errors import BadInput
from splitbrain.history.ops import INVOKE, NEMESIS, read_history

HEAL_ALL = "heal-all"


def spec_from_test_json(data: dict, where: str = store.TEST_FILE) -> TestSpec:
    """The TestSpec a ``test.json`` describes. test.json stores ``nodes`` as the list of node names (and the count
    as ``node_count``), so both shapes are accepted."""
    if not isinstance(data, dict) or "system" not in data or "workload" not in data:
        raise BadInput("not a splitbrain test description (needs system and workload)", where)
    d = dict(data)
    nodes = d.get("node_count", d.get("nodes"))
    if isinstance(nodes, list):
        nodes = len(nodes)
    if nodes is not None:
        d["nodes"] = nodes
    try:
        return TestSpec.from_dict(d)
    except TypeError as e:
        raise BadInput(f"test description does not fit this version of splitbrain ({e})", where) from None


def fault_schedule(history) -> list[dict]:
    """The nemesis invocations of ``history`` (heal-all excepted), in order, as the runner's fault schedule."""
    return [{"time": op.time, "f": op.f, "value": op.value}
            for op in history if op.process == NEMESIS and op.type == INVOKE and op.f != HEAL_ALL]


def replay_inputs(run_dir: str | Path) -> tuple[TestSpec, list[dict]]:
    """(spec, fault schedule) to re-run ``run_dir`` exactly. BadInput if it isn't a complete run directory."""
    run = store.resolve_run_dir(run_dir)
    test_file = run / store.TEST_FILE
    if not test_file.is_file():
        raise BadInput(f"no {store.TEST_FILE}: an imported history can be re-checked but not replayed", str(run))
    spec = spec_from_test_json(store.read_json(test_file), str(test_file))
    return spec, fault_schedule(read_history(run / store.HISTORY_FILE))


def load_spec_plugins(spec: TestSpec) -> None:
    """Load the plugins a stored test needs (recorded in its test.json), from where they were imported if they
    are not installed, so a plugin system replays from any directory. BadInput if one can't be found."""
    for module in spec.plugins:
        load_plugin(module, spec.plugin_paths.get(module))
