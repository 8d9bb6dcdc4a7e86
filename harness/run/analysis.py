"""Judging a history: run the checkers a test names, combine their verdicts, write results.json, render the report.

This is the one path from a history to a verdict, shared by ``run`` (at the end of a test), ``analyze RUN_DIR``
(re-check a stored run) and ``analyze HISTORY --model M --out DIR`` (import a history from elsewhere).
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

from splitbrain.checkers.causal import check_delivery_order
from splitbrain.checkers.compose import combine, run_checker
from splitbrain.checkers.election import check_election_safety
from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.checkers.logs import DEFAULT_PATTERNS, check_log_patterns
from splitbrain.checkers.models import get_model, with_initial_value
from splitbrain.checkers.stats import check_stats
from splitbrain.checkers.txn import check_txn
from splitbrain.checkers.txn.models import MODELS as TXN_MODELS
from splitbrain.harness.run import run_dirs as store
from splitbrain.harness.systems import get_system
from splitbrain.harness.workloads import get_workload
from splitbrain.history.errors import BadInput
from splitbrain.history.importers import read_any
from splitbrain.history.ops import Op, read_history, write_history

log = logging.getLogger(__name__)


def check_history(history: Sequence[Op], checkers: dict[str, Callable[[Sequence[Op]], dict]]) -> dict:
    """Run every checker (a crash gives unknown, never true) and combine: ``{"valid", "results": {name: ...}}``."""
    results = {}
    for name, fn in checkers.items():
        t0 = time.perf_counter()
        r = run_checker(name, lambda fn=fn: fn(history))
        r.setdefault("elapsed_ms", round((time.perf_counter() - t0) * 1000, 3))
        results[name] = r
    return {"valid": combine(r["valid"] for r in results.values()), "results": results}


def checkers_for_test(test: dict) -> dict:
    """The checkers a stored test names: its workload's, or for an imported history, linearizability under its
    model."""

    if test.get("workload"):
        return get_workload(test["workload"]).checkers(test.get("options", {}))
    model = test.get("model")
    if not model:
        raise BadInput("test.json names neither a workload nor a model; give --model", "test.json")
    if "initial_value" in test:
        model = with_initial_value(model, test["initial_value"])
    limit = test.get("options", {}).get("check_time_limit", 60.0)

    if model in TXN_MODELS:  # a transaction history (checkers/txn)

        return {"txn": lambda h: check_txn(h, model=model, time_limit=limit), "stats": check_stats}
    return {"linearizable": lambda h: check_linearizable(h, model, time_limit=limit), "stats": check_stats}


def checkers_for_run(test: dict, run_dir: Path) -> dict:
    """Everything a stored run is judged by: the test's checkers, plus checkers of what the system itself
    reported beside the history: leader claims (election safety) and replicas' delivery logs (causal delivery).
    Those sidecar files are read here, so that checkers stay functions of data."""

    checkers = dict(checkers_for_test({**test, "options": {**test.get("options", {}), "run_dir": str(run_dir)}}))
    claims = _read_jsonl(run_dir / store.ANNOTATIONS_FILE)
    if any(c.get("kind") == "leader-claim" for c in claims):
        checkers["election"] = lambda h: check_election_safety(claims)
    state_file = run_dir / store.NODE_STATE_FILE
    if state_file.exists():
        states = store.read_json(state_file)
        logs = {n: st["delivery_log"] for n, st in states.items()
                if isinstance(st, dict) and isinstance(st.get("delivery_log"), list)}
        if logs:
            checkers["delivery-order"] = lambda h: check_delivery_order(logs)
    node_logs = read_node_logs(run_dir)
    if node_logs:
        patterns = log_patterns_for(test)
        checkers["log-patterns"] = lambda h: check_log_patterns(node_logs, patterns)
    return checkers


#: The most of one log file the log-pattern checker reads (its tail: a crash is logged last).
MAX_LOG_BYTES = 8 * 1024 * 1024


def read_node_logs(run_dir: Path) -> dict[str, dict[str, str]]:
    """``{node: {file name: text}}`` of every ``*.log`` in ``run_dir/nodes/<node>/`` (what the runner collected),
    each cut to its last MAX_LOG_BYTES; undecodable bytes are replaced, never fatal."""
    out: dict[str, dict[str, str]] = {}
    nodes = run_dir / "nodes"
    if not nodes.is_dir():
        return out
    for node_dir in sorted(p for p in nodes.iterdir() if p.is_dir()):
        for f in sorted(node_dir.glob("*.log")):
            with open(f, "rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - MAX_LOG_BYTES))
                out.setdefault(node_dir.name, {})[f.name] = fh.read().decode("utf-8", "replace")
    return out


def log_patterns_for(test: dict) -> list[str]:
    """The patterns a run's node logs are searched for: the test's ``log_patterns`` option if it gives one, else
    the system's ``log_patterns`` (the checker's defaults for a system this process does not know)."""

    given = (test.get("options") or {}).get("log_patterns")
    if isinstance(given, list) and all(isinstance(p, str) for p in given):
        return list(given)
    try:
        declared = getattr(get_system(test["system"]), "log_patterns", None)
    except (BadInput, KeyError):
        declared = None
    return list(DEFAULT_PATTERNS if declared is None else declared)


def _read_jsonl(path: Path) -> list[dict]:
    """Sidecar JSON Lines (annotations); a torn last line from a killed controller is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def analyze_run(run_dir: Path, *, render: bool = True, checkers: dict | None = None) -> dict:
    """Re-check a stored run: read test.json and history.jsonl, write results.json (and report.html)."""
    run_dir = store.resolve_run_dir(run_dir)
    test = store.read_json(run_dir / store.TEST_FILE) if (run_dir / store.TEST_FILE).exists() else {}
    history = read_history(run_dir / store.HISTORY_FILE)
    results = check_history(history, checkers or checkers_for_run(test, run_dir))
    store.write_json(run_dir / store.RESULTS_FILE, results)
    if render:
        render_report(run_dir)
    return results


def render_report(run_dir: Path) -> Path | None:
    """Write report.html if the reports package can; a rendering problem never loses the verdict."""
    try:  # here, not at the top: the reports pull in pandas, which judging a history never needs
        from splitbrain.reports import render_report as _render
    except ImportError:
        return None
    try:
        return _render(run_dir)
    except Exception as e:  # the verdict is already on disk; say what went wrong and go on
        log.warning("could not render the report for %s: %s: %s", run_dir, type(e).__name__, e)
        return None


_NO_VALUE = object()


def import_history(path: Path, *, model: str, out: Path, fmt: str = "auto", initial_value=_NO_VALUE) -> Path:
    """Import a history from another tool into a new run directory ``out`` (which must not exist or be empty).

    ``initial_value`` starts a register model there (kept in test.json). An EDN import leaves out ok reads of nil
    (they constrain nothing; see docs/history-format.md): test.json says how many."""

    if model not in TXN_MODELS:
        get_model(model)  # a wrong --model is bad input before anything is written
    if initial_value is not _NO_VALUE:
        with_initial_value(model, initial_value)  # likewise a starting value for a model without one
    loaded = read_any(path, fmt)
    history = loaded.ops
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BadInput("the output directory exists and is not empty", str(out))
    (out / "nodes").mkdir(parents=True, exist_ok=True)
    write_history(out / store.HISTORY_FILE, history)
    shutil.copyfile(path, out / f"imported-{Path(path).name}")
    test = {
        "name": f"imported-{Path(path).stem}", "imported_from": str(Path(path).resolve()), "model": model,
        "format": loaded.format, "versions": store.versions(),
        "command": f"splitbrain analyze {path} --model {model} --out {out}",
    }
    if loaded.nil_reads:
        test["nil_reads_unconstrained"] = loaded.nil_reads
    if initial_value is not _NO_VALUE:
        test["initial_value"] = initial_value
        test["command"] += f" --initial-value {shlex.quote(json.dumps(initial_value))}"
    store.write_json(out / store.TEST_FILE, test)
    return out
