"""The ``splitbrain`` command: a click group whose subcommands live in small modules (``harness/commands/*.py``).

Exit codes (docs/ARCHITECTURE.md): 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input, 255 the harness failed.
Every deliberate error is a SplitbrainError and is printed as one sentence; usage errors from click are mapped
to 254 too. Only a bug in splitbrain itself prints a traceback (exit 255).
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
import traceback

import click

from splitbrain.harness.plugins import load_entry_points, load_plugin
from splitbrain.history.errors import EXIT_BAD_INPUT, EXIT_HARNESS_FAILED, SplitbrainError

#: Modules that each define ``register(group)`` to add their commands. One line per module keeps merges apart.
COMMAND_MODULES = (
    "splitbrain.harness.commands.check",
    "splitbrain.harness.commands.run",
    "splitbrain.harness.commands.report",
    "splitbrain.harness.commands.cluster",
    "splitbrain.harness.commands.suite",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("-v", "--verbose", is_flag=True, help="Log debug details to stderr.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import MODULE first (it registers systems/workloads); installed 'splitbrain.plugins' entry "
                   "points are always loaded.")
@click.version_option(package_name="splitbrain")
def cli(verbose: bool, plugins: tuple[str, ...]) -> None:
    """splitbrain: does a distributed system keep its consistency promises? Find out, with evidence."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="splitbrain: %(levelname)s: %(message)s")
    load_entry_points()
    for module in plugins:
        load_plugin(module)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(cli)


def _terminate(signum, frame) -> None:
    # SIGTERM takes the same path as Ctrl-C, so that a run tears its cluster down either way.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and turns errors into one sentence and an exit code."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        rv = cli.main(args=argv, prog_name="splitbrain", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("splitbrain: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
        click.echo(f"splitbrain: {e.format_message()}{hint}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as e:
        click.echo(f"splitbrain: {e.format_message()}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except SplitbrainError as e:
        click.echo(f"splitbrain: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("splitbrain: interrupted", err=True)
        sys.exit(130)
    except Exception:  # a bug in splitbrain: show it, it's ours to fix
        traceback.print_exc()
        click.echo("splitbrain: internal error (a bug in splitbrain; the traceback above says where)", err=True)
        sys.exit(EXIT_HARNESS_FAILED)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
