"""Commands ``run``, ``analyze``, ``systems`` and ``workloads``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from splitbrain.checkers.models import parse_initial_value
from splitbrain.harness.run import run_dirs as store
from splitbrain.harness.run.spec import TestSpec, parse_nemesis, parse_targets
from splitbrain.harness.systems import get_system, system_names
from splitbrain.harness.workloads import get_workload, workload_names
from splitbrain.history.errors import BadInput
from splitbrain.history.verdict import Verdict

# Imported inside the commands, on purpose: the machinery a command runs (runner, analysis, clusters and their
# cleanup, the checkers' searches, reports, nemesis) pulls in pandas, paramiko and the fault appliers, which
# `splitbrain --help` and the other commands must not wait for.


def verdict_word(v) -> str:
    """A JSON ``valid`` value as the command line prints it (``valid``, ``INVALID``, ``unknown``)."""
    return Verdict.of(v).label


def print_results(results: dict, run_dir: Path | None, out=None) -> None:
    """One line per checker, then the overall verdict and where the evidence is."""
    out = out or sys.stdout
    for name, r in results["results"].items():
        extra = r.get("explanation") or r.get("cause") or (r.get("failure") or {}).get("explanation") or ""
        print(f"  {name:<14} {verdict_word(r.get('valid')):<8} {extra}", file=out)
    print(f"verdict: {verdict_word(results['valid'])}", file=out)
    if run_dir is not None:
        report = run_dir / store.REPORT_FILE
        print(f"run:     {run_dir}", file=out)
        if report.exists():
            print(f"report:  {report}", file=out)


@click.command("run")
@click.option("--system", required=True, help="System under test (see 'splitbrain systems').")
@click.option("--variant", default="correct", show_default=True, help="Variant of the system (a seeded bug).")
@click.option("--workload", required=True, help="Workload (see 'splitbrain workloads').")
@click.option("--nodes", default=3, show_default=True, type=int, help="Number of nodes.")
@click.option("--nemesis", "nemesis_", default="none", show_default=True,
              help="Comma-separated faults: partition, kill, pause, clock, loss, crash, chase, flap, "
                   "voter-restart, delay, duplicate, reorder, rate, lose-unfsynced, corrupt, or none.")
@click.option("--time-limit", default=20.0, show_default=True, type=float, help="Seconds of client load.")
@click.option("--concurrency", default=None, type=int, help="Client threads [default: 2 per node].")
@click.option("--rate", default=100.0, show_default=True, type=float, help="Client ops per second (mean).")
@click.option("--seed", default=None, type=int, help="Seed for every random choice [default: random].")
@click.option("--test-name", default=None, help="Name of the test in the store.")
@click.option("--nemesis-targets", "nemesis_targets", default="", metavar="T[,T...]",
              help="Which nodes the faults hit: one, minority, majority, all, leader, primaries (see 'splitbrain "
                   "faults') [default: each fault's own mix].")
@click.option("--nemesis-interval", default=5.0, show_default=True, type=float, help="Seconds between faults.")
@click.option("--nemesis-duration", default=3.0, show_default=True, type=float, help="Seconds a fault lasts.")
@click.option("--recovery-time", default=3.0, show_default=True, type=float,
              help="Seconds to wait after the final heal before final reads.")
@click.option("--op-timeout", default=1.0, show_default=True, type=float, help="Seconds per client request.")
@click.option("--hosts", "hosts_file", default=None, type=click.Path(dir_okay=False),
              help="TOML hosts file: run on remote hosts over SSH instead of local namespaces.")
@click.option("--store", "store_dir", default=None, type=click.Path(file_okay=False),
              help="Where runs are stored [default: ./store or $SPLITBRAIN_STORE].")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A workload/system option (value parsed as JSON if it can be), e.g. value_range=3.")
@click.option("--keep-cluster", is_flag=True, help="Leave the cluster running after the test (clean up later "
              "with 'splitbrain cleanup').")
@click.option("--quiet", is_flag=True, help="No live progress.")
def run_cmd(system, variant, workload, nodes, nemesis_, time_limit, concurrency, rate, seed, test_name,
            nemesis_targets, nemesis_interval, nemesis_duration, recovery_time, op_timeout, hosts_file, store_dir, options,
            keep_cluster, quiet):
    """Run a test: a cluster, concurrent clients, faults, a history, a verdict and a report."""
    from splitbrain.harness.run.runner import run_test

    spec_kw = dict(system=system, variant=variant, workload=workload, nodes=nodes,
                   nemesis=parse_nemesis(nemesis_), nemesis_targets=parse_targets(nemesis_targets), time_limit=time_limit, concurrency=concurrency, rate=rate,
                   test_name=test_name, nemesis_interval=nemesis_interval, nemesis_duration=nemesis_duration,
                   recovery_time=recovery_time, op_timeout=op_timeout, hosts_file=hosts_file,
                   options=_parse_options(options))
    if seed is not None:
        spec_kw["seed"] = seed
    spec = TestSpec(**spec_kw)
    outcome = run_test(spec, store_root=Path(store_dir) if store_dir else store.default_store(),
                       keep_cluster=keep_cluster, progress=not quiet)
    print_results(outcome.results, outcome.run_dir)
    return Verdict.of(outcome.results["valid"]).exit_code


def _parse_options(items) -> dict:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BadInput(f"expected KEY=VALUE, got {item!r}", "--option")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


@click.command("analyze")
@click.argument("path", type=click.Path())
@click.option("--model", default=None, help="Model for an imported history (see 'splitbrain check --help').")
@click.option("--out", "out", default=None, type=click.Path(file_okay=False),
              help="New run directory for an imported history.")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "jsonl", "edn", "jepsen-log"]), help="Format of an imported history.")
@click.option("--initial-value", "initial", default=None, metavar="V",
              help="For an imported history: start a register or cas-register at V (JSON, else a string).")
@click.option("--no-report", is_flag=True, help="Don't (re)write report.html.")
def analyze_cmd(path, model, out, fmt, initial, no_report):
    """Re-check a stored run (PATH is a run directory), or import a history from elsewhere (PATH is a file, with
    --model and --out) into a new run directory and check it."""
    from splitbrain.harness.run.analysis import analyze_run, import_history

    p = Path(path)
    if p.is_dir():
        if model or out or initial is not None:
            raise BadInput("--model, --out and --initial-value are for importing a history file, not for a run "
                           "directory", path)
        run_dir = p
    else:
        if not p.exists():
            raise BadInput("no such file or run directory", path)
        if not model or not out:
            raise BadInput("importing a history file needs --model and --out", path)
        extra = {}
        if initial is not None:
            extra["initial_value"] = parse_initial_value(initial)
        run_dir = import_history(p, model=model, out=Path(out), fmt=fmt, **extra)
    results = analyze_run(run_dir, render=not no_report)
    print_results(results, store.resolve_run_dir(run_dir))
    return Verdict.of(results["valid"]).exit_code


@click.command("systems")
def systems_cmd():
    """List the systems under test, their variants and the bug each variant seeds."""

    for name in system_names():
        s = get_system(name)
        click.echo(f"{name}: {s.description}")
        click.echo(f"  workloads: {', '.join(s.workloads)}")
        for v, bug in s.variants.items():
            click.echo(f"  --variant {v:<18} {bug or 'correct: no seeded bug'}")


@click.command("faults")
def faults_cmd():
    """List the faults (--nemesis), the targets each can be aimed at (--nemesis-targets), and its default."""
    from splitbrain.nemesis import FAULTS
    from splitbrain.nemesis.targets import DESCRIPTIONS

    for name, fault in FAULTS.items():
        click.echo(f"{name}: {fault.description}")
        click.echo(f"  targets: {', '.join(fault.accepts) or 'none (it picks its nodes itself)'}")
        if fault.accepts:
            click.echo(f"  default: {', '.join(fault.default_targets) or 'a partition shape (' + ', '.join(getattr(fault, 'shapes', ())) + ')'}")
    click.echo("targets:")
    for t, what in DESCRIPTIONS.items():
        click.echo(f"  {t:<10} {what}")


@click.command("workloads")
def workloads_cmd():
    """List the workloads."""

    for name in workload_names():
        click.echo(f"{name:<14} {get_workload(name).description}")


@click.command("errors")
def errors_cmd():
    """List the error codes a client (or a JSON-lines server's "error" field) may report: fail or info."""
    from splitbrain.harness.client_errors import ERRORS

    for code, (definite, what) in sorted(ERRORS.items()):
        click.echo(f"{code:<20} {'fail' if definite else 'info'}  {what}")
    click.echo("(an unknown code is info: the op may have taken effect)")


def register(group: click.Group) -> None:
    for cmd in (run_cmd, analyze_cmd, systems_cmd, workloads_cmd, faults_cmd, errors_cmd):
        group.add_command(cmd)
