"""``splitbrain check PATH... --model MODEL``: check recorded histories for linearizability.

One line per file (path, verdict, client ops, milliseconds spent checking -- parsing excluded), then a summary;
``--json`` prints one JSON object per file instead (file, valid, ops, check_ms and the evidence; for a file that
can't be read, ``{"file", "valid": null, "error"}``). Files are read and checked one at a time (memory holds one
history). A file that can't be read as a history (missing, empty, malformed, a directory) is reported -- one
sentence naming ``file:line`` on stderr, and its own line on stdout -- and the batch goes on with the next file.

Exit code over all files (see ``EXIT_RULE``): 1 if any file is invalid; else 254 if any file could not be read;
else 2 if any is unknown; else 0. A bad flag is exit 254 before any file is read.
"""

from __future__ import annotations

import json
import time

import click

from splitbrain.checkers.models import get_model, parse_initial_value, with_initial_value
from splitbrain.history.errors import EXIT_BAD_INPUT, BadInput
from splitbrain.history.importers import FORMATS, read_any
from splitbrain.history.verdict import Verdict

# Imported inside the commands, on purpose: the machinery a command runs (runner, analysis, clusters and their
# cleanup, the checkers' searches, reports, nemesis) pulls in pandas, paramiko and the fault appliers, which
# `splitbrain --help` and the other commands must not wait for.

EXIT_RULE = ("Exit code: 1 if any file is INVALID; else 254 if any file could not be read (missing, empty or "
             "malformed: reported, and the other files are still checked); else 2 if any is unknown; else 0.")


def _verdict_text(valid) -> str:
    return Verdict.of(valid).label


def _json_default(o):
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return repr(o)


def batch_exit_code(verdicts: list, unreadable: int) -> int:
    """The batch's exit code (``EXIT_RULE``): a found violation first, then unreadable input, then unknown."""
    verdict = Verdict.combine(verdicts)
    if unreadable and verdict is not Verdict.FALSE:
        return EXIT_BAD_INPUT
    return verdict.exit_code


@click.command("check", epilog=EXIT_RULE)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--model", "model_name", required=True,
              help="Consistency model: register, cas-register, kv, counter, set, queue, mutex; or, for transaction "
                   "histories (list-append, rw-register), read-committed, snapshot-isolation, serializable, "
                   "strong-session-serializable, strict-serializable.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="History format (auto tells JSON Lines, EDN in any of Jepsen's shapes and jepsen.util logs "
                   "apart).")
@click.option("--initial-value", "initial", default=None, metavar="V",
              help="Start a register or cas-register at V (JSON, else a string) instead of nil; Knossos' "
                   "histories assume 0.")
@click.option("--time-limit", type=float, default=None, metavar="SECONDS",
              help="Give up on a file after this long: its verdict is then 'unknown'.")
@click.option("--memory-limit", "memory_limit_mb", type=int, default=None, metavar="MB",
              help="Give up on a file when the search grows by more than this much memory.")
@click.option("--no-split", is_flag=True, help="Check a kv history as one object instead of key by key.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, with the evidence.")
def check_cmd(paths, model_name, fmt, initial, time_limit, memory_limit_mb, no_split, as_json):
    """Check histories (JSON Lines, Jepsen EDN or jepsen.util logs) for linearizability."""
    from splitbrain.checkers.linearizable import check_linearizable
    from splitbrain.checkers.txn.models import MODELS as TXN_MODELS

    if model_name in TXN_MODELS:
        return _check_txn_files(paths, model_name, fmt, time_limit, as_json)
    model = get_model(model_name)
    if initial is not None:
        model = with_initial_value(model, parse_initial_value(initial))
    if time_limit is not None and time_limit <= 0:
        raise BadInput("the time limit must be a positive number of seconds", "--time-limit")
    if memory_limit_mb is not None and memory_limit_mb <= 0:
        raise BadInput("the memory limit must be a positive number of megabytes", "--memory-limit")
    verdicts = []
    unreadable = 0
    total_ms = 0.0
    for path in paths:
        try:
            loaded = read_any(path, fmt)
        except BadInput as e:
            unreadable += 1
            click.echo(f"splitbrain: {e}", err=True)
            if as_json:
                click.echo(json.dumps({"file": path, "valid": None, "error": str(e)}, ensure_ascii=False))
            else:
                at = (e.location or "").removeprefix(str(path))
                click.echo(f"{path}  UNREADABLE  {e.message}" + (f" (line {at[1:]})" if at.startswith(":") else ""))
            continue
        result = check_linearizable(loaded.ops, model, time_limit=time_limit, memory_limit_mb=memory_limit_mb,
                                    split=not no_split)
        if loaded.nil_reads:
            result["nil_reads_unconstrained"] = loaded.nil_reads
        if loaded.independent:
            result["independent_keys"] = True
        loaded_independent = loaded.independent
        del loaded  # one history in memory at a time
        verdicts.append(result["valid"])
        total_ms += result["check_ms"]
        if as_json:
            click.echo(json.dumps({"file": path, **result}, ensure_ascii=False, default=_json_default))
            continue
        line = f"{path}  {_verdict_text(result['valid'])}  {result['ops']} ops  {result['check_ms']:.1f} ms"
        if result.get("nil_reads_unconstrained"):
            line += f"  ({result['nil_reads_unconstrained']} nil reads unconstrained)"
        if loaded_independent:
            line += "  (jepsen.independent [key value] tuples, checked key by key)"
        if Verdict.of(result["valid"]) is Verdict.UNKNOWN:
            line += f"  ({result.get('cause', 'no cause given')})"
        click.echo(line)
        if result["valid"] is False:
            click.echo(f"    {result['failure']['explanation']}")
    if not as_json:
        n_bad = sum(1 for v in verdicts if v is False)
        n_unknown = sum(1 for v in verdicts if Verdict.of(v) is Verdict.UNKNOWN)
        click.echo(f"{len(paths)} file(s): {len(verdicts) - n_bad - n_unknown} valid, {n_bad} invalid, "
                   f"{n_unknown} unknown, {unreadable} unreadable; {total_ms:.1f} ms checking"
                   + (f"; model {model.name}" if initial is not None else ""))
    return batch_exit_code(verdicts, unreadable)


def _check_txn_files(paths, model_name: str, fmt: str, time_limit: float | None, as_json: bool) -> int:
    """``check`` for transaction histories (checkers/txn): one line per file, its anomalies explained."""
    from splitbrain.checkers.txn import check_txn

    if time_limit is not None and time_limit <= 0:
        raise BadInput("the time limit must be a positive number of seconds", "--time-limit")
    verdicts = []
    unreadable = 0
    for path in paths:
        try:
            ops = read_any(path, fmt).ops
        except BadInput as e:  # as for linearizability: report the file, go on with the others
            unreadable += 1
            click.echo(f"splitbrain: {e}", err=True)
            if as_json:
                click.echo(json.dumps({"file": path, "valid": None, "error": str(e)}, ensure_ascii=False))
            else:
                click.echo(f"{path}  UNREADABLE  {e.message}")
            continue
        t0 = time.perf_counter()
        result = check_txn(ops, model=model_name, time_limit=time_limit or 60.0)
        ms = (time.perf_counter() - t0) * 1000
        del ops
        verdicts.append(result["valid"])
        if as_json:
            click.echo(json.dumps({"file": path, "check_ms": round(ms, 1), **result}, ensure_ascii=False,
                                  default=_json_default))
            continue
        line = f"{path}  {_verdict_text(result['valid'])}  {result.get('txn_count', 0)} txns  {ms:.1f} ms"
        if Verdict.of(result["valid"]) is Verdict.UNKNOWN:
            line += f"  ({result.get('cause', 'no cause given')})"
        click.echo(line)
        for name in result.get("anomaly_types", []):
            click.echo(f"    {name}: {result['anomalies'][name][0]['explanation']}")
    return batch_exit_code(verdicts, unreadable)


def register(group: click.Group) -> None:
    """Add the ``check`` command to the top-level group."""
    group.add_command(check_cmd)
