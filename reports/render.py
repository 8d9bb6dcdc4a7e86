"""Render a run directory into one self-contained ``report.html``, and a store into ``index.html``.

Contract:
- The pages work offline and make no network request: no CDN, no fonts, no outside script; the only script and
  style are inline and are allowed by a Content-Security-Policy that names their SHA-256 hashes (plus ``data:``
  images), so even markup that slipped through could run nothing.
- Every value that came from a system under test or a file is escaped: Jinja autoescapes all text and
  attributes; data for the page's script goes through :func:`splitbrain.reports.safe_json.script_json`. Only our own CSS and
  JS (files in this package) are inserted unescaped.
- Rendering never judges: verdicts and explanations are taken from ``results.json`` as they are.
- Files are replaced atomically (written beside, then renamed), so a reader never sees half a report.
"""

from __future__ import annotations

import base64
from collections import Counter
import hashlib
import os
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from splitbrain.history.ops import pair_ops
from splitbrain.history.verdict import UNKNOWN, Verdict

from splitbrain.reports import run_dir as rd
from splitbrain.reports.counterexample import PairIndex, anomaly_view, linearizability_view
from splitbrain.reports.clock import clock_plot
from splitbrain.reports.safe_json import cut, script_json, short_json, text_of
from splitbrain.reports.stats import quantile_table
from splitbrain.reports.timeline import fault_periods, key_text, timeline_data, us
from splitbrain.reports.txn_cycles import txn_views

#: the verdict words (the report's CSS classes); the JSON form of unknown is ``UNKNOWN``
VALID, INVALID, UNKNOWN_WORD = Verdict.TRUE.word, Verdict.FALSE.word, Verdict.UNKNOWN.word
#: the index's verdict filters, worst first ("unchecked": a run without results.json)
_INDEX_WORDS = (INVALID, UNKNOWN_WORD, VALID, "unchecked")
_HERE = Path(__file__).parent
MAX_ANOMALIES = 10
MAX_FAULT_ROWS = 50
MAX_LOG_MATCHES = 20
TREE_DEPTH, TREE_ITEMS, TREE_CHARS = 6, 40, 300
TEST_FIELDS = (("system", "system"), ("variant", "variant"), ("workload", "workload"), ("nodes", "nodes"),
               ("nemesis", "faults"), ("seed", "seed"), ("time_limit", "time limit (s)"),
               ("concurrency", "concurrency"), ("rate", "rate (ops/s)"), ("started", "started"),
               ("versions", "versions"))


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False)


@lru_cache(maxsize=None)
def _static(name: str) -> str:
    text = (_HERE / "static" / name).read_text(encoding="utf-8")
    # Our own inline code must not be able to end its element early.
    assert "</script" not in text.lower() and "</style" not in text.lower(), name
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def content_security_policy(script: str | None, style: str) -> str:
    """The page's CSP: nothing may load or run but the one inline script and style given (by hash) and data:
    images. ``base-uri``/``form-action`` close the remaining ways a page can be redirected."""
    script_src = _sha256(script) if script else "'none'"
    return (f"default-src 'none'; script-src {script_src}; style-src {_sha256(style)}; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def _version() -> str:
    try:
        return metadata.version("splitbrain")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# ------------------------------------------------------------------------------------------------ summaries

def checker_summary(name: str, result: Any) -> str:
    """One sentence (or phrase) saying what a checker found, from its own words where it has them."""
    if not isinstance(result, dict):
        return cut(text_of(result), 200)
    valid = result.get("valid")
    failure = result.get("failure")
    if valid is False and isinstance(failure, dict) and failure.get("explanation"):
        return str(failure["explanation"])
    anomalies = result.get("anomalies")
    if valid is False and isinstance(anomalies, list) and anomalies:
        first = anomalies[0] if isinstance(anomalies[0], dict) else {}
        more = f" ({len(anomalies)} anomalies in all)" if len(anomalies) > 1 else ""
        return str(first.get("explanation") or first.get("type") or "anomaly") + more
    for field in ("explanation", "cause", "error"):
        if isinstance(result.get(field), str) and result[field]:
            return result[field]
    parts = []
    if result.get("checker") == "linearizable" or "partitions" in result:
        for field, fmt in (("ops", "{} ops"), ("partitions", "{} partitions"), ("check_ms", "checked in {} ms"),
                           ("model", "model {}")):
            if result.get(field) is not None:
                parts.append(fmt.format(result[field]))
    for field, v in result.items():
        if isinstance(v, list):
            parts.append(f"{field}: {len(v)}")
    return ", ".join(parts) if parts else ""


def headline(verdict: str, checkers: list[dict], n_ops: int) -> str:
    """The sentence under the verdict: what went wrong (the first failing checker's words, a checker of the
    history before a second opinion from the system's own logs), else what held."""
    if verdict == INVALID:
        bad = sorted((c for c in checkers if c["word"] == INVALID), key=lambda c: bool(c.get("second")))
        if bad:
            name = bad[0]["name"] + (" (second opinion)" if bad[0].get("second") else "")
            return f"{name}: {bad[0]['summary']}" if bad[0]["summary"] else f"{name} failed."
        return "The run was judged invalid."
    if verdict == UNKNOWN_WORD:
        unk = [c for c in checkers if c["word"] == UNKNOWN_WORD]
        if unk:
            return f"Could not decide. {unk[0]['name']}: {unk[0]['summary'] or 'no cause given'}"
        return "Could not decide."
    if verdict == VALID:
        names = ", ".join(c["name"] for c in checkers)
        return f"No violation found in {n_ops:,} ops ({names})." if names else "No violation found."
    return "Not checked: there is no results.json for this run."


# ------------------------------------------------------------------------------------------------ tree

def json_tree(value: Any, depth: int = 0) -> dict:
    """A generic, size-limited tree of a JSON value for results of shapes the report doesn't know."""
    if isinstance(value, dict) or isinstance(value, list):
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        text = f"{{{len(items)} fields}}" if isinstance(value, dict) else f"[{len(items)} items]"
        if depth >= TREE_DEPTH:
            return {"kind": "scalar", "cls": "more", "text": cut(text_of(value), TREE_CHARS)}
        shown = items[:TREE_ITEMS]
        return {"kind": "node", "text": text, "more": len(items) - len(shown),
                "children": [(str(k) if isinstance(value, dict) else None, json_tree(v, depth + 1))
                             for k, v in shown]}
    cls = "s" if isinstance(value, str) else "n" if isinstance(value, (int, float)) else "k"
    return {"kind": "scalar", "cls": cls, "text": cut(text_of(value), TREE_CHARS)}


# ------------------------------------------------------------------------------------------------ report

def _test_rows(run: rd.Run) -> list[tuple[str, str]]:
    t = run.test
    rows = []
    known = {k for k, _ in TEST_FIELDS} | {"name", "command"}
    for field, label in TEST_FIELDS:
        v = t.get(field)
        if v is None or v == [] or v == {}:
            continue
        if isinstance(v, list):
            text = ", ".join(str(x) for x in v)
        elif isinstance(v, dict):
            text = ", ".join(f"{k} {x}" for k, x in v.items())
        else:
            text = str(v)
        rows.append((label, cut(text, 300)))
    for field, v in t.items():
        if field not in known and v is not None and v != [] and v != {}:  # unset fields say nothing
            rows.append((str(field), short_json(v, 200)))
    rows.append(("run directory", str(run.path)))
    return rows


def _files(run: rd.Run) -> list[tuple[str, str]]:
    files = []
    for f, label in ((rd.HISTORY_FILE, "raw history (history.jsonl)"), (rd.TEST_FILE, "test.json"),
                     (rd.RESULTS_FILE, "results.json"), (rd.ANNOTATIONS_FILE, "annotations.jsonl")):
        if (run.path / f).is_file():
            files.append((quote(f), label))
    files += [(quote(p), p) for p in run.node_logs]
    return files


def _failure_window_us(ops, failure: dict) -> dict | None:
    idx = [i for i in (failure.get("window") or []) if isinstance(i, int) and 0 <= i < len(ops)]
    s = failure.get("stuck_op")
    if isinstance(s, int) and 0 <= s < len(ops):
        idx.append(s)
    if not idx:
        return None
    times = [ops[i].time for i in idx]
    return {"s": us(min(times)), "e": us(max(times))}


def _chain_window_us(ops, anomalies: list, index: PairIndex) -> dict | None:
    """The stretch of time of the first anomaly's causal chain (its ops from invoke to completion), for the
    timeline's "zoom to failure"."""
    for a in anomalies:
        chain = a.get("chain") if isinstance(a, dict) else None
        if not isinstance(chain, list):
            continue
        idx = []
        for e in chain:
            p = index.get(e.get("index") if isinstance(e, dict) else None)
            if p is not None:
                idx += [p.invoke.index] + ([p.complete.index] if p.complete is not None else [])
        if idx:
            return _failure_window_us(ops, {"window": idx})
    return None


def report_html(run: rd.Run) -> str:
    """The report of a loaded run, as HTML text."""
    ops = run.ops
    results = run.results or {}
    inner = results.get("results") if isinstance(results.get("results"), dict) else {}
    checkers = [{"name": str(n), "word": rd.verdict_word(r.get("valid", UNKNOWN) if isinstance(r, dict) else
                                                        UNKNOWN), "summary": checker_summary(n, r),
                 "second": str(r["second_opinion"]) if isinstance(r, dict) and r.get("second_opinion") else None}
                for n, r in inner.items()]
    verdict = rd.verdict_word(run.verdict)
    pairs = pair_ops(ops)
    n_client = len(pairs)
    index = PairIndex(ops, pairs) if ops else None

    lin_views, anomaly_views, anomalies_omitted, txn_cycle_views = [], [], {}, []
    failure_window = highlight_key = None
    for name, r in inner.items():
        if not isinstance(r, dict) or r.get("valid") is not False:
            continue
        failure = r.get("failure")
        if isinstance(failure, dict) and ops:
            lin_views.append((str(name), linearizability_view(ops, failure, index)))
            if failure_window is None:
                failure_window = _failure_window_us(ops, failure)
                highlight_key = failure.get("key")
        anomalies = r.get("anomalies")
        if isinstance(anomalies, dict):  # the transactional checker's: drawn as dependency cycles
            txn_cycle_views.append((str(name), txn_views(r)))
        if isinstance(anomalies, list) and anomalies and ops:
            views = [anomaly_view(ops, a, index) for a in anomalies[:MAX_ANOMALIES] if isinstance(a, dict)]
            if failure_window is None:  # no linearizability failure: the first causal chain is the failure
                failure_window = _chain_window_us(ops, anomalies[:MAX_ANOMALIES], index)
            shown = str(name) + (" (second opinion)" if r.get("second_opinion") else "")
            anomaly_views.append((shown, views))
            anomalies_omitted[shown] = max(0, len(anomalies) - MAX_ANOMALIES)

    log_matches = [(str(name), r["matches"][:MAX_LOG_MATCHES], r.get("omitted", 0))
                   for name, r in inner.items() if isinstance(r, dict) and r.get("valid") is False
                   and isinstance(r.get("matches"), list) and r["matches"]]

    missing = []
    if rd.HISTORY_FILE in run.missing:
        missing.append("There is no history.jsonl in this run directory: nothing to draw.")
    if rd.TEST_FILE in run.missing:
        missing.append("There is no test.json: what the test was is unknown (an imported history?).")

    periods = fault_periods(ops)
    faults = [{"kind": p.kind, "start": f"{p.start / 1e9:.3f} s",
               "end": "end" if p.end is None else f"{p.end / 1e9:.3f} s", "uncertain": p.uncertain,
               "value": short_json(p.value, 160) if p.value is not None else "",
               "resolved": short_json(p.resolved, 160) if p.resolved is not None else "",
               "steps": [{"at": f"{t / 1e9:.3f} s", "step": name, "info": short_json(info, 160) if info else ""}
                         for t, name, info in p.steps]} for p in periods]

    script = _static("report.js") if ops else None
    style = _static("report.css")
    data = None
    if ops:
        data = timeline_data(ops, run.annotations, concurrency=run.test.get("concurrency"),
                             highlight_key=highlight_key, pairs=pairs, periods=periods)
        data["failure"] = failure_window
    counts = Counter(p.type for p in pairs)
    op_summary = (f"{n_client:,} client ops ({counts['ok']:,} ok, {counts['fail']:,} fail, {counts['info']:,} info), "
                  f"{len(periods)} fault periods, {ops[-1].time / 1e9:.1f} s of history." if ops else "")
    ready = next((a for a in run.annotations if a.get("kind") == "ready"), None)
    if ready is not None and op_summary:
        op_summary += f" Load began once the system said it was ready ({float(ready.get('seconds') or 0):.1f} s)."
    op_summary += _loop_stalls(run.annotations)
    test_name = run.name
    ctx = dict(
        title=test_name, verdict_word=verdict, headline=headline(verdict, checkers, n_client), checkers=checkers,
        missing=missing, test_rows=_test_rows(run), command=run.test.get("command"), op_summary=op_summary,
        lin_views=lin_views, anomaly_views=anomaly_views, txn_cycle_views=txn_cycle_views, log_matches=log_matches,
        clock=clock_plot(ops) if ops else None, anomalies_omitted=anomalies_omitted,
        has_ops=bool(ops), has_failure_window=failure_window is not None,
        has_leaders=any(a.get("kind", "leader") == "leader" for a in run.annotations),
        lane_note=data["laneNote"] if data else "",
        highlight_key=key_text(highlight_key) if highlight_key is not None else None,
        quantiles=quantile_table(pairs), faults=faults[:MAX_FAULT_ROWS],
        faults_omitted=max(0, len(faults) - MAX_FAULT_ROWS),
        details=[(str(n), json_tree(r)) for n, r in inner.items()], files=_files(run), version=_version(),
        csp=content_security_policy(script, style), style=Markup(style), script=Markup(script or ""),
        data_json=Markup(script_json(data)) if data is not None else "",
    )
    return _env().get_template("report.html.j2").render(**ctx)


def _loop_stalls(annotations: list) -> str:
    """A sentence on the times the run's event loop was blocked (annotations of kind ``loop-stall``), or ""."""
    stalls = [a for a in annotations if a.get("kind") == "loop-stall"]
    if not stalls:
        return ""
    worst = max(stalls, key=lambda a: float(a.get("seconds") or 0))
    return (f" The run's event loop was blocked {len(stalls)} time{'s' if len(stalls) > 1 else ''} (longest "
            f"{float(worst.get('seconds') or 0):.1f} s, in {str(worst.get('where'))[:300]}): no op could start, time "
            f"out or complete meanwhile, so times and timeouts in that span are stretched (a client blocked in async "
            f"code).")


def render_report(run_dir: str | os.PathLike) -> Path:
    """(Re)write ``<run_dir>/report.html`` and return its path. BadInput if the directory isn't a readable run."""
    run = rd.load_run(run_dir)
    out = run.path / rd.REPORT_FILE
    _write_atomic(out, report_html(run))
    return out


# ------------------------------------------------------------------------------------------------ index

def index_html(store: str | os.PathLike, *, live: bool = False) -> str:
    """The overview of every run in ``store``, newest first. ``live`` (the server) links every run's report,
    since the server renders missing ones on request; a static index links only reports that exist."""
    store = Path(store)
    runs = rd.find_runs(store)
    rows = []
    for s in runs:
        base = "/".join(quote(part) for part in s.rel.split("/"))
        rows.append({
            "s": s, "word": s.verdict_word, "system": str(s.test.get("system") or ""),
            "variant": str(s.test.get("variant") or ""), "workload": str(s.test.get("workload") or ""),
            "nemesis": ", ".join(str(x) for x in s.test.get("nemesis") or []) if isinstance(
                s.test.get("nemesis"), list) else str(s.test.get("nemesis") or ""),
            "started": str(s.test.get("started") or s.timestamp),
            "report": f"{base}/{rd.REPORT_FILE}" if (live or s.has_report) else None,
            "files": [(f"{base}/{quote(f)}", f) for f in s.files],
            "checkers": [(n, rd.verdict_word(v)) for n, v in s.checkers.items()],
        })
    script = _static("index.js")
    style = _static("report.css")
    ctx = dict(store=str(store), rows=rows,
               systems=sorted({r["system"] for r in rows if r["system"]}),
               variants=sorted({r["variant"] for r in rows if r["variant"]}),
               verdicts=[w for w in _INDEX_WORDS if any(r["word"] == w for r in rows)],
               counts={w: sum(1 for r in rows if r["word"] == w) for w in _INDEX_WORDS},
               csp=content_security_policy(script, style), style=Markup(style), script=Markup(script),
               version=_version())
    return _env().get_template("index.html.j2").render(**ctx)


def render_index(store_dir: str | os.PathLike) -> Path:
    """(Re)write ``<store_dir>/index.html`` (an overview of all runs, newest first) and return its path."""
    store = Path(store_dir)
    out = store / "index.html"
    _write_atomic(out, index_html(store))
    return out
