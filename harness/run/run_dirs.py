"""The run store: ``store/<test-name>/<timestamp>/`` with test.json, history.jsonl, results.json, report.html and
nodes/<node>/*.log, plus ``store/latest`` (and ``store/<test-name>/latest``) pointing at the newest run.

A run directory is the unit everything else works on: ``analyze`` re-checks one, ``report`` renders one, ``replay``
re-runs one. Files are written atomically (temp file + rename) except the history, which is appended as it goes.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from splitbrain.history.errors import BadInput

# the file names are defined once, in the ground package; importing them here keeps ``run_dirs.HISTORY_FILE`` working
from splitbrain.history.run_files import (  # noqa: F401
    ANNOTATIONS_FILE,
    CLUSTER_FILE,
    HISTORY_FILE,
    NODE_STATE_FILE,
    NODES_DIR,
    REPORT_FILE,
    RESULTS_FILE,
    TEST_FILE,
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def default_store() -> Path:
    return Path(os.environ.get("SPLITBRAIN_STORE", "store"))


def check_test_name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise BadInput(f"test name {name!r} must be letters, digits, '.', '_' or '-' (at most 100)", "--test-name")
    return name


def new_run_dir(store: Path, test_name: str) -> Path:
    """Create and return a fresh ``store/<test-name>/<timestamp>/`` and point the ``latest`` links at it."""
    check_test_name(test_name)
    base = Path(store) / test_name
    base.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    run = base / stamp
    n = 1
    while True:
        try:
            run.mkdir()
            break
        except FileExistsError:
            n += 1
            run = base / f"{stamp}-{n}"
    (run / NODES_DIR).mkdir()
    _point(base / "latest", run.name)
    _point(Path(store) / "latest", f"{test_name}/{run.name}")
    return run


def _point(link: Path, target: str) -> None:
    tmp = link.with_name(link.name + ".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    tmp.symlink_to(target)
    os.replace(tmp, link)


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("no such file", str(path)) from None
    except ValueError as e:
        raise BadInput(f"not valid JSON ({e})", str(path)) from None


def versions() -> dict:
    try:
        sb = version("splitbrain")
    except PackageNotFoundError:
        sb = "unknown"
    return {"splitbrain": sb, "python": platform.python_version()}


def resolve_run_dir(path: str | os.PathLike) -> Path:
    """A run directory given by the user: must exist and hold a history."""
    p = Path(path)
    if not p.is_dir():
        raise BadInput("no such run directory", str(p))
    if not (p / HISTORY_FILE).is_file():
        raise BadInput(f"not a run directory (no {HISTORY_FILE})", str(p))
    return p.resolve()
