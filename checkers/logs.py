"""The log-pattern checker: node logs searched for lines a healthy node never writes.

A server that logs a traceback or a panic has failed, even when its history happens to look fine (the op that hit the
bug may have been retried, or never acknowledged). So every node log is searched for patterns the system declares
(``System.log_patterns``; :data:`DEFAULT_PATTERNS` otherwise) and any match makes the run invalid.

Pure: it takes the logs as data (``{node: {file name: text}}``, read by ``splitbrain.harness.run.analysis``) and the patterns as
regular-expression strings; it reads no file itself.

Result: ``{"valid": true | false, "patterns": [...], "files": N, "matches": [{"node", "file", "line" (1-based),
"pattern", "text", "context": [following lines]}], "omitted": N, "explanation"}``. Must not: raise on a pattern
that is not a valid regular expression (the result is ``unknown`` and says which) or keep more than
``max_matches`` matches (the rest are counted in ``omitted``).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from splitbrain.history.verdict import UNKNOWN

#: Lines no healthy node writes: a Python traceback, a Go panic, a fatal log line, a failed assertion.
DEFAULT_PATTERNS: tuple[str, ...] = (
    r"Traceback \(most recent call last\)",
    r"\bpanic:",
    r"\bFATAL\b",
    r"AssertionError|[Aa]ssertion (`.*' )?failed",
)

CONTEXT_LINES = 12
MAX_LINE_CHARS = 400


def check_log_patterns(logs: Mapping[str, Mapping[str, str]], patterns: Sequence[str] = DEFAULT_PATTERNS, *,
                       max_matches: int = 20) -> dict:
    """Search every line of every log for any of ``patterns``; invalid with the matching lines if one matches."""
    try:
        compiled = [(p, re.compile(p)) for p in patterns]
    except re.error as e:
        return {"valid": UNKNOWN, "patterns": list(patterns),
                "error": f"a log pattern is not a valid regular expression: {e}"}
    matches: list[dict] = []
    found = 0
    files = 0
    for node in sorted(logs):
        for name in sorted(logs[node]):
            files += 1
            lines = logs[node][name].splitlines()
            for i, line in enumerate(lines):
                hit = next((p for p, rx in compiled if rx.search(line)), None)
                if hit is None:
                    continue
                found += 1
                if len(matches) < max_matches:
                    matches.append({"node": node, "file": name, "line": i + 1, "pattern": hit,
                                    "text": line[:MAX_LINE_CHARS],
                                    "context": [x[:MAX_LINE_CHARS] for x in lines[i + 1:i + 1 + CONTEXT_LINES]]})
    result: dict = {"valid": not found, "patterns": list(patterns), "files": files, "matches": matches,
                    "omitted": found - len(matches)}
    if found:
        first = matches[0]
        more = f" ({found} matching lines in all)" if found > 1 else ""
        result["explanation"] = (f"{first['node']} logged {first['text'].strip()!r} "
                                 f"({first['file']} line {first['line']}){more}")
    return result
