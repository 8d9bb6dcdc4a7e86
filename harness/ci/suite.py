"""A suite: a matrix of tests (systems x variants x workloads x faults x seeds) run one after another within a
time budget, with a summary for people (HTML) and machines (JSON, JUnit XML).

The suite file is TOML (``docs/ci.md`` has a full example)::

    name = "smoke"                      # optional; default: the file's stem
    time_budget = 240                   # seconds; no run is *started* after this (a running one finishes)
    plugins = ["splitbrain_etcd"]       # optional: modules to load first (see splitbrain.harness.plugins)
    plugin_paths = { splitbrain_etcd = "../etcd" }   # optional: where a plugin that is not installed lives
                                        # (relative to the suite file); its runs record it for replay

    [defaults]                          # any TestSpec field, for every run (options are merged)
    time_limit = 8
    nemesis_interval = 3

    [[matrix]]                          # expands into cells: system(s) x variant(s) x workload(s) x faults
    system = "quorum-kv"                # or systems = [...]
    variants = ["correct", "r1w1"]      # or variant = "..."
    workload = "register"               # or workloads = [...]
    faults = ["partition", "kill,pause"]  # each entry one fault set; "none" for no faults
    seeds = [1, 2]                      # or a count: seeds = 3 means seeds 1, 2, 3
    expect = { correct = "valid", r1w1 = "invalid" }   # or one word for all variants; omit: no expectation

A *cell* is one (system, variant, workload, faults) with its seeds. Its verdict combines the seeds' verdicts; it
*meets* ``expect = "valid"`` when every seed was valid and ``"invalid"`` when at least one seed found a bug. A cell
whose expectation is neither met nor contradicted (unknown verdicts, runs that failed, runs skipped for the budget)
is *inconclusive*. :func:`exit_code` maps the suite to the project's codes: 0 every expectation held, 1 some
expectation was contradicted, 2 otherwise inconclusive.

Must not: start a run past the budget, hide a run that failed to run (it is an ``error`` with its message), or put
a value from a system under test into HTML unescaped (the template is rendered with Jinja2 autoescape).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
import json
import os
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jinja2

from splitbrain.harness.plugins import load_plugin
from splitbrain.harness.run import run_dirs as store
from splitbrain.harness.run.runner import run_test
from splitbrain.harness.run.spec import TestSpec, parse_nemesis
from splitbrain.harness.systems import get_system
from splitbrain.harness.workloads import get_workload
from splitbrain.history.errors import BadInput, SplitbrainError
from splitbrain.history.verdict import UNKNOWN, Verdict

SUMMARY_JSON = "summary.json"
SUMMARY_HTML = "summary.html"
JUNIT_XML = "junit.xml"

EXPECTATIONS = (Verdict.TRUE.word, Verdict.FALSE.word)  # what a cell may expect: "valid" or "invalid"
# Cell outcomes.
MET, MISSED, INCONCLUSIVE, NO_EXPECTATION = "met", "missed", "inconclusive", "no expectation"

_TOP_KEYS = {"name", "time_budget", "plugins", "plugin_paths", "defaults", "matrix"}
_MATRIX_KEYS = {"system", "systems", "variant", "variants", "workload", "workloads", "faults", "seeds", "expect"}
_SPEC_FIELDS = {f.name for f in dataclasses.fields(TestSpec)} - {"system", "variant", "workload", "nemesis", "seed"}


# ------------------------------------------------------------------------------------------------------ the spec


@dataclass(frozen=True)
class Cell:
    """One (system, variant, workload, faults) with the seeds to run it with and what it should give."""

    system: str
    variant: str
    workload: str
    faults: tuple[str, ...]
    seeds: tuple[int, ...]
    expect: str | None
    fields: dict = field(default_factory=dict)  # the other TestSpec fields (time_limit, options, ...)

    @property
    def id(self) -> str:
        return f"{self.system}/{self.variant}/{self.workload}/{'+'.join(self.faults) or 'none'}"

    def spec(self, seed: int) -> TestSpec:
        return TestSpec(system=self.system, variant=self.variant, workload=self.workload, nemesis=self.faults,
                        seed=seed, **self.fields)


@dataclass(frozen=True)
class Suite:
    name: str
    cells: tuple[Cell, ...]
    time_budget: float | None = None
    plugins: tuple[str, ...] = ()


def _list(entry: dict, one: str, many: str, where: str, default=None) -> list:
    if one in entry and many in entry:
        raise BadInput(f"give {one!r} or {many!r}, not both", where)
    if many in entry:
        v = entry[many]
        if not isinstance(v, list) or not v:
            raise BadInput(f"{many!r} must be a non-empty list", where)
        return v
    if one in entry:
        return [entry[one]]
    if default is None:
        raise BadInput(f"needs {one!r} (or {many!r})", where)
    return default


def _seeds(v, where: str) -> tuple[int, ...]:
    if isinstance(v, bool):
        raise BadInput("'seeds' must be a count or a list of integers", where)
    if isinstance(v, int):
        if v < 1:
            raise BadInput("'seeds' as a count must be at least 1", where)
        return tuple(range(1, v + 1))
    if isinstance(v, list) and v and all(isinstance(s, int) and not isinstance(s, bool) for s in v):
        return tuple(v)
    raise BadInput("'seeds' must be a count or a non-empty list of integers", where)


def parse_suite(data: dict, *, source: str = "<suite>", default_name: str = "suite") -> Suite:
    """A Suite from parsed TOML. BadInput names ``source`` and the offending key for anything that doesn't fit,
    including unknown systems, variants, workloads and faults (found now, not an hour into the suite)."""

    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise BadInput(f"unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(_TOP_KEYS))})", source)
    name = data.get("name", default_name)
    store.check_test_name(str(name))
    budget = data.get("time_budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
        raise BadInput("'time_budget' must be a positive number of seconds", f"{source}: time_budget")
    plugins = data.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise BadInput("'plugins' must be a list of module names", f"{source}: plugins")
    paths = data.get("plugin_paths", {})
    if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
        raise BadInput("'plugin_paths' must be a table of module = directory", f"{source}: plugin_paths")
    here = Path(source).parent if Path(source).is_file() else Path.cwd()
    for p in plugins:  # before the names are checked: plugins bring systems
        load_plugin(p, str((here / paths[p]).resolve()) if p in paths else None)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise BadInput("'defaults' must be a table", f"{source}: defaults")
    bad = set(defaults) - _SPEC_FIELDS
    if bad:
        raise BadInput(f"unknown test field(s) {', '.join(sorted(bad))} (known: {', '.join(sorted(_SPEC_FIELDS))})",
                       f"{source}: defaults")
    matrix = data.get("matrix")
    if not isinstance(matrix, list) or not matrix:
        raise BadInput("needs at least one [[matrix]] table", source)

    cells: list[Cell] = []
    seen: set[str] = set()
    for i, entry in enumerate(matrix):
        where = f"{source}: matrix[{i}]"
        if not isinstance(entry, dict):
            raise BadInput("each [[matrix]] entry must be a table", where)
        bad = set(entry) - _MATRIX_KEYS - _SPEC_FIELDS
        if bad:
            raise BadInput(f"unknown key(s) {', '.join(sorted(bad))}", where)
        fields = {**defaults, **{k: v for k, v in entry.items() if k in _SPEC_FIELDS}}
        fields["options"] = {**defaults.get("options", {}), **entry.get("options", {})}
        seeds = _seeds(entry.get("seeds", 1), f"{where}.seeds")
        faults_list = []
        raw_faults = entry.get("faults", ["none"])
        if isinstance(raw_faults, str):
            raw_faults = [raw_faults]
        if not isinstance(raw_faults, list) or not raw_faults:
            raise BadInput("'faults' must be a non-empty list of fault sets", f"{where}.faults")
        for f in raw_faults:
            if not isinstance(f, str):
                raise BadInput("each 'faults' entry must be a string such as \"partition,kill\"", f"{where}.faults")
            try:
                faults_list.append(parse_nemesis(f))
            except BadInput as e:
                raise BadInput(e.message, f"{where}.faults") from None
        for system_name in _list(entry, "system", "systems", where):
            try:
                system = get_system(system_name)
            except BadInput as e:
                raise BadInput(e.message, f"{where}.system") from None
            variants = _list(entry, "variant", "variants", where, default=["correct"])
            expect = entry.get("expect")
            for variant, workload, faults in itertools.product(
                    variants, _list(entry, "workload", "workloads", where), faults_list):
                if system.variants and variant not in system.variants:
                    raise BadInput(f"{system_name} has no variant {variant!r} (known: {', '.join(system.variants)})",
                                   f"{where}.variants")
                try:
                    get_workload(workload)
                except BadInput as e:
                    raise BadInput(e.message, f"{where}.workloads") from None
                if system.workloads and workload not in system.workloads:
                    raise BadInput(f"{system_name} does not support the {workload!r} workload", f"{where}.workloads")
                exp = expect.get(variant) if isinstance(expect, dict) else expect
                if exp is not None and exp not in EXPECTATIONS:
                    raise BadInput(f"'expect' must be \"valid\" or \"invalid\", not {exp!r}", f"{where}.expect")
                cell = Cell(system_name, variant, workload, faults, seeds, exp, dict(fields))
                if cell.id in seen:
                    raise BadInput(f"cell {cell.id} appears twice", where)
                seen.add(cell.id)
                try:
                    cell.spec(seeds[0])  # TestSpec's own checks (time limits, node counts, ...) now
                except TypeError as e:
                    raise BadInput(f"bad test field ({e})", where) from None
                except BadInput as e:
                    raise BadInput(e.message, f"{where} ({e.location})") from None
                cells.append(cell)
    return Suite(str(name), tuple(cells), float(budget) if budget is not None else None, tuple(plugins))


def load_suite(path: str | os.PathLike) -> Suite:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("no such suite file", str(p)) from None
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"not valid TOML ({e})", str(p)) from None
    return parse_suite(data, source=str(p), default_name=p.stem)


# ------------------------------------------------------------------------------------------------------ running


def cell_outcome(expect: str | None, verdicts: list, skipped: int = 0) -> str:
    """Whether a cell's seeds (verdicts: True, False, "unknown" or "error") meet its expectation. Pure."""
    if expect is None:
        return NO_EXPECTATION
    found = any(v is False for v in verdicts)
    if expect == Verdict.FALSE.word:
        if found:
            return MET
        return MISSED if verdicts and all(v is True for v in verdicts) and not skipped else INCONCLUSIVE
    if found:
        return MISSED
    return MET if verdicts and all(v is True for v in verdicts) and not skipped else INCONCLUSIVE


def exit_code(cells: list[dict]) -> int:
    outcomes = {c["outcome"] for c in cells}
    return 1 if MISSED in outcomes else 2 if INCONCLUSIVE in outcomes else 0


def _combined(verdicts: list) -> Any:
    """The cell's combined verdict in JSON form; None for a cell with no seed run."""
    return Verdict.combine(verdicts).json if verdicts else None


def run_suite(suite: Suite, *, store_root: Path, out_dir: Path | None = None, runner: Callable | None = None,
              clock: Callable[[], float] = time.monotonic, log=None) -> tuple[dict, Path]:
    """Run every cell's seeds in order until the time budget is spent; write the summaries; return
    (summary dict, summary directory). ``runner(spec, store_root=..., progress=False)`` defaults to
    ``splitbrain.harness.run.runner.run_test`` (tests pass a fake). The summary is rewritten after every run, so an interrupted
    suite still leaves one."""
    runner = runner or run_test
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    store_root = Path(store_root)
    if out_dir is None:
        stamp = _dt.datetime.now().strftime("%Y%m%dT%H%M%S")
        out_dir = store_root / "suites" / f"{suite.name}-{stamp}"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = clock()
    summary = {"suite": suite.name, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "time_budget": suite.time_budget,
               "store": str(store_root.resolve()), "cells": [], "budget_exhausted": False}
    cells = summary["cells"]
    for cell in suite.cells:
        cells.append({"id": cell.id, "system": cell.system, "variant": cell.variant, "workload": cell.workload,
                      "faults": list(cell.faults), "expect": cell.expect, "seeds": list(cell.seeds), "runs": [],
                      "skipped_seeds": [], "verdict": None, "bugs_found": 0, "time_to_first_failure": None,
                      "first_failing_seed": None, "duration": 0.0, "outcome": None})
        _update_cell(cells[-1])
    try:
        for cell, rec in zip(suite.cells, cells):
            for seed in cell.seeds:
                if suite.time_budget is not None and clock() - started >= suite.time_budget:
                    summary["budget_exhausted"] = True
                    rec["skipped_seeds"].append(seed)
                    continue
                rec["runs"].append(_run_one(cell, seed, runner, store_root, out_dir, clock, log))
                _update_cell(rec)
                _write_all(summary, out_dir, clock() - started)
            _update_cell(rec)
    finally:
        for rec in cells:
            _update_cell(rec)
        summary["exit_code"] = exit_code(cells)
        _write_all(summary, out_dir, clock() - started)
    return summary, out_dir


def _run_one(cell: Cell, seed: int, runner, store_root: Path, out_dir: Path, clock, log) -> dict:
    spec = cell.spec(seed)
    log(f"suite: {cell.id} seed {seed} ...")
    t0 = clock()
    run = {"seed": seed, "command": spec.command(), "valid": None, "run_dir": None, "report": None, "error": None,
           "replay": None, "checkers": {}}
    try:
        outcome = runner(spec, store_root=store_root, progress=False)
    except SplitbrainError as e:  # the run could not be done (cluster trouble, bad input): say so, keep going
        run["valid"] = "error"
        run["error"] = f"{type(e).__name__}: {e}"
    else:
        run["valid"] = outcome.results.get("valid", UNKNOWN)
        run["run_dir"] = str(outcome.run_dir)
        run["replay"] = f"splitbrain replay {outcome.run_dir}"
        report = Path(outcome.run_dir) / store.REPORT_FILE
        if report.exists():
            run["report"] = os.path.relpath(report, out_dir)
        run["checkers"] = {name: r.get("valid") for name, r in (outcome.results.get("results") or {}).items()}
    run["duration"] = round(clock() - t0, 3)
    word = {True: "valid", False: "INVALID"}.get(run["valid"], str(run["valid"]))
    log(f"suite: {cell.id} seed {seed}: {word} ({run['duration']:.1f} s)"
        + (f" {run['run_dir']}" if run["run_dir"] else f" {run['error']}"))
    return run


def _update_cell(rec: dict) -> None:
    verdicts = [r["valid"] for r in rec["runs"]]
    rec["verdict"] = _combined(verdicts)
    rec["bugs_found"] = sum(1 for v in verdicts if v is False)
    rec["duration"] = round(sum(r["duration"] for r in rec["runs"]), 3)
    elapsed = 0.0
    rec["time_to_first_failure"] = rec["first_failing_seed"] = None
    for r in rec["runs"]:
        elapsed += r["duration"]
        if r["valid"] is False:
            rec["time_to_first_failure"] = round(elapsed, 3)
            rec["first_failing_seed"] = r["seed"]
            break
    rec["outcome"] = cell_outcome(rec["expect"], verdicts, len(rec["skipped_seeds"]))


# ------------------------------------------------------------------------------------------------------ summaries


def _write_all(summary: dict, out_dir: Path, elapsed: float) -> None:
    summary["duration"] = round(elapsed, 3)
    summary["exit_code"] = exit_code(summary["cells"])
    store.write_json(out_dir / SUMMARY_JSON, summary)
    _atomic_write(out_dir / SUMMARY_HTML, render_html(summary))
    _atomic_write(out_dir / JUNIT_XML, render_junit(summary))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def render_html(summary: dict) -> str:
    """The summary as one HTML page; every value is escaped by Jinja2's autoescape."""

    env = jinja2.Environment(loader=jinja2.PackageLoader("splitbrain.harness.ci", "."), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("suite.html.j2").render(s=summary)


def render_junit(summary: dict) -> str:
    """JUnit XML: one testcase per cell; a contradicted expectation is a failure, an inconclusive cell an error, a
    cell with no runs skipped. Seeds, run directories and replay commands are testcase properties."""
    cells = summary["cells"]
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", {
        "name": f"splitbrain.{summary['suite']}", "tests": str(len(cells)),
        "failures": str(sum(c["outcome"] == MISSED for c in cells)),
        "errors": str(sum(c["outcome"] == INCONCLUSIVE and c["runs"] != [] for c in cells)),
        "skipped": str(sum(not c["runs"] for c in cells)), "time": f"{summary.get('duration', 0):.3f}"})
    for c in cells:
        tc = ET.SubElement(ts, "testcase", {"classname": f"splitbrain.{summary['suite']}", "name": c["id"],
                                            "time": f"{c['duration']:.3f}"})
        props = ET.SubElement(tc, "properties")
        for k in ("expect", "verdict", "outcome", "bugs_found", "time_to_first_failure", "first_failing_seed"):
            ET.SubElement(props, "property", {"name": k, "value": json.dumps(c[k])})
        for r in c["runs"]:
            ET.SubElement(props, "property", {"name": f"seed {r['seed']}", "value": json.dumps(r["valid"])})
            if r["run_dir"]:
                ET.SubElement(props, "property", {"name": f"run_dir seed {r['seed']}", "value": r["run_dir"]})
        lines = [f"seed {r['seed']}: {r['valid']} {r['run_dir'] or r['error']}" for r in c["runs"]]
        lines += [f"replay: {r['replay']}" for r in c["runs"] if r.get("replay") and r["valid"] is not True]
        if not c["runs"]:
            ET.SubElement(tc, "skipped", {"message": "not run: the suite's time budget was spent"})
        elif c["outcome"] == MISSED:
            msg = (f"expected {c['expect']}, but {c['bugs_found']} of {len(c['runs'])} seeds found a bug"
                   if c["expect"] == Verdict.TRUE.word else f"expected invalid, but all {len(c['runs'])} seeds were valid")
            ET.SubElement(tc, "failure", {"message": msg}).text = "\n".join(lines)
        elif c["outcome"] == INCONCLUSIVE:
            ET.SubElement(tc, "error", {"message": f"inconclusive: verdict {c['verdict']}"}).text = "\n".join(lines)
        ET.SubElement(tc, "system-out").text = "\n".join(lines + [f"command: {r['command']}" for r in c["runs"]])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
