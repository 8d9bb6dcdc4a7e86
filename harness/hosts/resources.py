"""Run-state files: one JSON document per cluster run, the single source of truth for cleanup.

Every resource a run creates (network namespace, interface, temp dir) is appended to its state file *before* it is
created, and every node process is recorded (pid, pgid, start time) right after it is spawned. So a controller that
dies at any instant (SIGKILL included) leaves a file from which ``splitbrain.harness.hosts.cleanup`` can remove everything.

Layout, under the state dir (``$SPLITBRAIN_STATE_DIR``, default ``/var/lib/splitbrain/runs``)::

    <run_id>.json    the run's state (written atomically: temp file + rename)
    <run_id>.lock    flock()ed around every read-modify-write, so a CLI command and a running controller can both
                     update the same run without losing each other's changes
    current          the run id that ``splitbrain cluster up`` left running (what nemesis commands act on)

The state dict (keys used by this project; adding keys is fine, removing them breaks cleanup of older runs)::

    run_id, mode ("local"), created (unix time), owner {pid, start_time}: the controller that created it,
    subnet, controller_address, workdir, resources [{kind: netns|link|dir|mount, ...}], hosts {node: {netns, address}},
    nodes {node: {argv, env, cwd, log_prefix, pid, pgid, start_time, paused, clock_offset}}, system {...} | null,
    helpers {"<node>/<name>": {node, name, pid, pgid, start_time, argv, log_prefix}} (fault helper processes)

Must not: hold a lock while doing anything slow, or write outside the state dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from splitbrain.history.errors import BadInput, ClusterError

DEFAULT_STATE_DIR = "/var/lib/splitbrain/runs"
RUN_ID_RE = re.compile(r"^[a-z0-9]{1,8}$")


def state_dir() -> Path:
    """The state directory (created if missing)."""
    d = Path(os.environ.get("SPLITBRAIN_STATE_DIR") or DEFAULT_STATE_DIR)
    d.mkdir(parents=True, exist_ok=True)
    return d


def check_run_id(run_id: str) -> str:
    """Run ids become parts of interface names (15 chars max), so they are short and plain; BadInput otherwise."""
    if not RUN_ID_RE.match(run_id or ""):
        raise BadInput(f"run id {run_id!r} must be 1 to 8 lowercase letters or digits", "--run-id")
    return run_id


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot, field 22 of /proc/PID/stat), or None if there is
    no such process. Recorded with every pid so that a reused pid is never mistaken for ours."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[19])


def process_is(pid: int | None, start_time: int | None) -> bool:
    """True if ``pid`` is alive (not a zombie) and is the very process recorded with ``start_time``."""
    if not pid:
        return False
    st = process_start_time(pid)
    if st is None or (start_time is not None and st != start_time):
        return False
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return raw[raw.rindex(")") + 2:].split()[0] not in ("Z", "X")


class StateStore:
    """Reads and writes the state files of one state dir."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.dir = Path(directory) if directory else state_dir()
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, run_id: str) -> Path:
        return self.dir / f"{check_run_id(run_id)}.json"

    @contextlib.contextmanager
    def _locked(self, run_id: str) -> Iterator[None]:
        with open(self.dir / f"{run_id}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, run_id: str, state: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{run_id}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(state, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(run_id))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def create(self, run_id: str, state: dict) -> None:
        """Write a new run's state; ClusterError if the run id is taken."""
        with self._locked(run_id):
            if self.path(run_id).exists():
                raise ClusterError(f"run id {run_id} is already in use in {self.dir}")
            self._write(run_id, state)

    def read(self, run_id: str) -> dict | None:
        try:
            return json.loads(self.path(run_id).read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as e:
            raise BadInput(f"state file is not valid JSON ({e.msg})", str(self.path(run_id))) from None

    def update(self, run_id: str, change: Callable[[dict], None]) -> dict:
        """Apply ``change`` (mutates the dict in place) under the run's lock and write the result atomically."""
        with self._locked(run_id):
            state = self.read(run_id)
            if state is None:
                raise ClusterError(f"run {run_id} has no state file in {self.dir}")
            change(state)
            self._write(run_id, state)
            return state

    def add_resource(self, run_id: str, resource: dict) -> None:
        """Record a resource; call this *before* creating it."""
        def add(state: dict) -> None:
            if resource not in state.setdefault("resources", []):
                state["resources"].append(resource)
        self.update(run_id, add)

    def delete(self, run_id: str) -> None:
        was_current = self._current_raw() == run_id
        with self._locked(run_id):
            with contextlib.suppress(FileNotFoundError):
                self.path(run_id).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.dir / f"{run_id}.lock").unlink()
        if was_current and self._current_raw() == run_id:
            self.set_current(None)

    def run_ids(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json") if RUN_ID_RE.match(p.stem))

    def all_states(self) -> list[dict]:
        return [s for s in (self.read(r) for r in self.run_ids()) if s is not None]

    def _current_raw(self) -> str | None:
        try:
            return (self.dir / "current").read_text().strip()
        except FileNotFoundError:
            return None

    def current(self) -> str | None:
        """The run ``cluster up`` left running, if its state file still exists."""
        run_id = self._current_raw()
        if run_id is None:
            return None
        return run_id if RUN_ID_RE.match(run_id) and self.path(run_id).exists() else None

    def set_current(self, run_id: str | None) -> None:
        p = self.dir / "current"
        if run_id is None:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            return
        tmp = self.dir / ".current.tmp"
        tmp.write_text(run_id + "\n")
        os.replace(tmp, p)


def owner_record() -> dict:
    """Who is creating a run: this process, identified by pid and start time (a reused pid is not the owner)."""
    return {"pid": os.getpid(), "start_time": process_start_time(os.getpid()), "created": time.time()}


def owner_alive(state: dict) -> bool:
    owner = state.get("owner") or {}
    return process_is(owner.get("pid"), owner.get("start_time"))
