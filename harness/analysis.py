"""Judging a history: run the checkers a test names, combine their verdicts, write results.json, render the report.

This is the one path from a history to a verdict, shared by ``run`` (at the end of a test), ``analyze RUN_DIR``
(re-check a stored run) and ``analyze HISTORY --model M --out DIR`` (import a history from elsewhere).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

from checkers.compose import combine, run_checker
from harness import store
from harness.errors import BadInput
from harness.history import Op, read_history, write_history
from harness.importers import load_history

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
    from checkers.linearizable import check_linearizable
    from checkers.stats import check_stats
    from harness.workloads import get_workload

    if test.get("workload"):
        return get_workload(test["workload"]).checkers(test.get("options", {}))
    model = test.get("model")
    if not model:
        raise BadInput("test.json names neither a workload nor a model; give --model", "test.json")
    limit = test.get("options", {}).get("check_time_limit", 60.0)
    return {"linearizable": lambda h: check_linearizable(h, model, time_limit=limit), "stats": check_stats}


def analyze_run(run_dir: Path, *, render: bool = True, checkers: dict | None = None) -> dict:
    """Re-check a stored run: read test.json and history.jsonl, write results.json (and report.html)."""
    run_dir = store.resolve_run_dir(run_dir)
    test = store.read_json(run_dir / store.TEST_FILE) if (run_dir / store.TEST_FILE).exists() else {}
    history = read_history(run_dir / store.HISTORY_FILE)
    results = check_history(history, checkers or checkers_for_test(test))
    store.write_json(run_dir / store.RESULTS_FILE, results)
    if render:
        render_report(run_dir)
    return results


def render_report(run_dir: Path) -> Path | None:
    """Write report.html if the reports package can; a rendering problem never loses the verdict."""
    try:
        from reports import render_report as _render
    except ImportError:
        return None
    try:
        return _render(run_dir)
    except Exception as e:  # the verdict is already on disk; say what went wrong and go on
        log.warning("could not render the report for %s: %s: %s", run_dir, type(e).__name__, e)
        return None


def import_history(path: Path, *, model: str, out: Path, fmt: str = "auto") -> Path:
    """Import a history from another tool into a new run directory ``out`` (which must not exist or be empty)."""
    from checkers.models import get_model

    get_model(model)  # a wrong --model is bad input before anything is written
    history = load_history(path, fmt)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BadInput("the output directory exists and is not empty", str(out))
    (out / "nodes").mkdir(parents=True, exist_ok=True)
    write_history(out / store.HISTORY_FILE, history)
    shutil.copyfile(path, out / f"imported-{Path(path).name}")
    store.write_json(out / store.TEST_FILE, {
        "name": f"imported-{Path(path).stem}", "imported_from": str(Path(path).resolve()), "model": model,
        "format": fmt, "versions": store.versions(),
        "command": f"splitbrain analyze {path} --model {model} --out {out}",
    })
    return out
