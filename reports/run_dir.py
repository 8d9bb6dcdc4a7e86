"""Read a run directory (``store/<test>/<timestamp>/``) into plain data for rendering.

Contract: reading never judges and never writes. Every file is optional except that a directory with none of
``test.json``, ``history.jsonl`` and ``results.json`` is not a run (BadInput). A file that exists but cannot be
read is BadInput naming the file (and line, for the history); a missing file is recorded in ``missing`` so the
report can say so instead of failing: imported histories and crashed runs have only some of the files.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbrain.history.errors import BadInput
from splitbrain.history.ops import Op, iter_jsonl, read_history
from splitbrain.history.run_files import (  # noqa: F401 (REPORT_FILE: render.py reads it from here)
    ANNOTATIONS_FILE,
    HISTORY_FILE,
    NODES_DIR,
    REPORT_FILE,
    RESULTS_FILE,
    RUN_FILES,
    TEST_FILE,
)
from splitbrain.history.verdict import UNKNOWN, Verdict


@dataclass
class Run:
    """Everything a report shows about one run. ``ops`` is empty when there is no history."""

    path: Path
    test: dict = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    results: dict | None = None
    annotations: list[dict] = field(default_factory=list)
    node_logs: list[str] = field(default_factory=list)   # paths relative to the run dir, posix style
    missing: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.test.get("name") or self.path.parent.name or self.path.name)

    @property
    def verdict(self) -> Any:
        """The combined verdict as recorded by the checkers, or None when the run was never checked."""
        return None if self.results is None else self.results.get("valid", UNKNOWN)


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in RUN_FILES)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"can't read it ({getattr(e, 'strerror', None) or e})", str(path)) from None
    except ValueError as e:
        raise BadInput(f"bad JSON ({getattr(e, 'msg', e)})", str(path)) from None


def read_json_object(path: Path) -> dict | None:
    """A JSON object from ``path``, None if the file is absent; BadInput if it is there but not an object."""
    if not path.is_file():
        return None
    obj = _read_json(path)
    if not isinstance(obj, dict):
        raise BadInput("expected a JSON object", str(path))
    return obj


def load_run(path: str | Path) -> Run:
    """Load a run directory. The history is read without the pairing rules (a report must show a history even
    when it breaks them: that may be the bug); bad JSON in it is still BadInput with file:line."""
    path = Path(path)
    if not path.is_dir():
        raise BadInput("not a directory", str(path))
    if not is_run_dir(path):
        raise BadInput(f"not a run directory (none of {', '.join(RUN_FILES)} in it)", str(path))
    run = Run(path=path)
    test = read_json_object(path / TEST_FILE)
    if test is None:
        run.missing.append(TEST_FILE)
    else:
        run.test = test
    if (path / HISTORY_FILE).is_file():
        run.ops = read_history(path / HISTORY_FILE, validate=False)
    else:
        run.missing.append(HISTORY_FILE)
    run.results = read_json_object(path / RESULTS_FILE)
    if run.results is None:
        run.missing.append(RESULTS_FILE)
    if (path / ANNOTATIONS_FILE).is_file():
        for lineno, obj in iter_jsonl(path / ANNOTATIONS_FILE):
            if not isinstance(obj, dict) or not isinstance(obj.get("time"), (int, float)):
                raise BadInput("expected a JSON object with a numeric 'time'", f"{path / ANNOTATIONS_FILE}:{lineno}")
            run.annotations.append(obj)
    nodes = path / NODES_DIR
    if nodes.is_dir():
        run.node_logs = sorted(p.relative_to(path).as_posix() for p in nodes.glob("*/*") if p.is_file())
    return run


@dataclass
class RunSummary:
    """One line of the index of runs: cheap to build (never reads the history)."""

    rel: str              # path relative to the store, posix style
    name: str
    timestamp: str
    test: dict
    verdict: Any          # True, False, "unknown", or None (never checked)
    checkers: dict        # name -> valid
    has_report: bool
    files: list[str]      # run files present, relative to the run dir
    error: str | None = None

    @property
    def verdict_word(self) -> str:
        return verdict_word(self.verdict)


def verdict_word(v: Any) -> str:
    """``valid`` / ``invalid`` / ``unknown`` / ``unchecked``: one word per verdict, used for CSS classes too."""
    return "unchecked" if v is None else Verdict.of(v).word


def summarize_run(store: Path, run_path: Path) -> RunSummary:
    """Summarise a run for the index; a run whose files can't be read is listed with ``error`` set, not dropped."""
    rel = run_path.relative_to(store).as_posix()
    files = [f for f in RUN_FILES if (run_path / f).is_file()]
    if (run_path / NODES_DIR).is_dir():
        files += sorted(p.relative_to(run_path).as_posix() for p in (run_path / NODES_DIR).glob("*/*") if p.is_file())
    summary = RunSummary(rel=rel, name=run_path.parent.name if run_path.parent != store else run_path.name,
                         timestamp=run_path.name, test={}, verdict=None, checkers={},
                         has_report=(run_path / REPORT_FILE).is_file(), files=files)
    try:
        summary.test = read_json_object(run_path / TEST_FILE) or {}
        results = read_json_object(run_path / RESULTS_FILE)
    except BadInput as e:
        summary.error = str(e)
        return summary
    summary.name = str(summary.test.get("name") or summary.name)
    if results is not None:
        summary.verdict = results.get("valid", UNKNOWN)
        inner = results.get("results")
        if isinstance(inner, dict):
            summary.checkers = {str(k): (v.get("valid", UNKNOWN) if isinstance(v, dict) else UNKNOWN)
                                for k, v in inner.items()}
    return summary


def _started_epoch(started: Any, run_path: Path) -> float:
    """When the run started, as seconds since the epoch: the test's ISO ``started`` time when it parses, else the
    modification time of its first run file (not of the directory: re-rendering a report touches that)."""
    if isinstance(started, str):
        try:
            dt = datetime.fromisoformat(started.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            return dt.timestamp()
        except ValueError:
            pass
    for f in RUN_FILES:
        try:
            return (run_path / f).stat().st_mtime
        except OSError:
            continue
    return 0.0


def find_runs(store: str | Path, *, max_depth: int = 3) -> list[RunSummary]:
    """All runs under ``store`` (normally ``<test>/<timestamp>/``), newest first.

    Newest means the test's ``started`` time when there is one, else the directory's timestamp name, else its
    modification time. Symlinked directories are not followed, so the index never lists anything outside the
    store.
    """
    store = Path(store)
    if not store.is_dir():
        raise BadInput("no such store directory", str(store))
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        try:
            children = sorted(p for p in d.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            return
        for c in children:
            if is_run_dir(c):
                found.append(c)
            elif depth < max_depth:
                walk(c, depth + 1)

    walk(store, 1)
    summaries = [summarize_run(store, p) for p in found]

    def newest(s: RunSummary) -> float:
        return _started_epoch(s.test.get("started"), store / s.rel)

    summaries.sort(key=newest, reverse=True)
    return summaries
