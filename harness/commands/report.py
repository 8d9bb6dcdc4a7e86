"""Commands ``splitbrain report RUN_DIR`` (write a run's report.html) and ``splitbrain serve [STORE]`` (browse all
runs locally). Both only render; the verdicts in them come from each run's results.json."""

from __future__ import annotations

from pathlib import Path

import click

from splitbrain.harness.run.run_dirs import default_store

# Imported inside the commands, on purpose: the machinery a command runs (runner, analysis, clusters and their
# cleanup, the checkers' searches, reports, nemesis) pulls in pandas, paramiko and the fault appliers, which
# `splitbrain --help` and the other commands must not wait for.


def register(group: click.Group) -> None:
    group.add_command(report)
    group.add_command(serve)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--index", "index_only", is_flag=True,
              help="RUN_DIR is a store: write its index.html (an overview of all runs) instead.")
def report(run_dir: Path, index_only: bool) -> None:
    """(Re)write RUN_DIR/report.html: one self-contained page that works offline."""
    from splitbrain.reports import render_index, render_report  # imported here so other commands start fast

    out = render_index(run_dir) if index_only else render_report(run_dir)
    click.echo(str(out))


@click.command()
@click.argument("store", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 = any free port.")
def serve(store: Path, host: str, port: int) -> None:
    """Serve STORE (default ./store or $SPLITBRAIN_STORE) on a local web page: all runs, newest first, with their
    reports and files."""
    from splitbrain.reports.serve import StoreServer

    store = store if store is not None else default_store()
    server = StoreServer(store, host=host, port=port)
    try:
        server.serve_forever(on_ready=lambda: click.echo(f"splitbrain: serving {store} at {server.url} "
                                                         "(Ctrl-C stops)", err=True))
    except KeyboardInterrupt:
        click.echo("splitbrain: stopped", err=True)
