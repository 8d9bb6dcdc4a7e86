"""Commands ``suite`` (a matrix of tests with expectations, for CI) and ``replay`` (re-run a stored run exactly)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from splitbrain.harness.commands.run import print_results
from splitbrain.harness.run import run_dirs as store
from splitbrain.history.verdict import Verdict

# Imported inside the commands, on purpose: the machinery a command runs (runner, analysis, clusters and their
# cleanup, the checkers' searches, reports, nemesis) pulls in pandas, paramiko and the fault appliers, which
# `splitbrain --help` and the other commands must not wait for.


@click.command("suite")
@click.argument("spec_file", metavar="SPEC.toml", type=click.Path(dir_okay=False))
@click.option("--store", "store_dir", default=None, type=click.Path(file_okay=False),
              help="Where runs are stored [default: ./store or $SPLITBRAIN_STORE].")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Where the summary goes [default: <store>/suites/<name>-<time>].")
@click.option("--time-budget", default=None, type=float,
              help="Seconds after which no new run starts (overrides the file's time_budget).")
def suite_cmd(spec_file, store_dir, out_dir, time_budget):
    """Run a matrix of tests (systems x variants x workloads x faults x seeds) and write summary.html,
    summary.json and junit.xml. Exit 0 if every cell met its expectation, 1 if one was contradicted, 2 if some
    cell is inconclusive (unknown verdicts, failed runs, runs skipped for the time budget)."""

    from splitbrain.harness.ci.suite import INCONCLUSIVE, MISSED, SUMMARY_HTML, load_suite, run_suite

    suite = load_suite(spec_file)
    if time_budget is not None:
        if time_budget <= 0:
            raise click.BadParameter("must be positive", param_hint="--time-budget")
        suite = dataclasses.replace(suite, time_budget=time_budget)
    summary, out = run_suite(suite, store_root=Path(store_dir) if store_dir else store.default_store(),
                             out_dir=Path(out_dir) if out_dir else None)
    for c in summary["cells"]:
        verdict = {True: "valid", False: "INVALID", None: "not run"}.get(c["verdict"], str(c["verdict"]))
        mark = {MISSED: "  <-- expectation contradicted", INCONCLUSIVE: "  <-- inconclusive"}.get(c["outcome"], "")
        click.echo(f"  {c['id']:<44} expect {c['expect'] or '-':<8} {verdict:<8} "
                   f"bugs {c['bugs_found']}/{len(c['runs'])}{mark}")
    click.echo(f"summary: {out / SUMMARY_HTML}")
    return summary["exit_code"]


@click.command("replay")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--store", "store_dir", default=None, type=click.Path(file_okay=False),
              help="Where the new run is stored [default: the store the original run is in].")
@click.option("--keep-cluster", is_flag=True, help="Leave the cluster running afterwards.")
@click.option("--quiet", is_flag=True, help="No live progress.")
def replay_cmd(run_dir, store_dir, keep_cluster, quiet):
    """Re-run a stored run with the same options and seed, and the same faults at the same times on the same
    nodes (taken from its history). The new run is a new run directory; its verdict sets the exit code."""
    from splitbrain.harness.ci.replay import load_spec_plugins, replay_inputs
    from splitbrain.harness.run.runner import run_test

    spec, schedule = replay_inputs(run_dir)
    load_spec_plugins(spec)
    original = store.resolve_run_dir(run_dir)
    # store/<test-name>/<run>: the original's store, unless it is a bare copied directory
    root = Path(store_dir) if store_dir else original.parent.parent
    click.echo(f"replaying {original} (seed {spec.seed}, {len(schedule)} faults)", err=True)
    outcome = run_test(spec, store_root=root, keep_cluster=keep_cluster, progress=not quiet,
                       fault_schedule=schedule)
    store.write_json(outcome.run_dir / "replay-of.json", {"original": str(original), "faults": len(schedule)})
    print_results(outcome.results, outcome.run_dir)
    return Verdict.of(outcome.results["valid"]).exit_code


def register(group: click.Group) -> None:
    for cmd in (suite_cmd, replay_cmd):
        group.add_command(cmd)
