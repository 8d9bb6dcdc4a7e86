"""Calling checkers and combining their verdicts (the rule itself is :class:`splitbrain.history.verdict.Verdict`:
any false gives false, else any unknown gives unknown, else true).

``run_checker`` is the one place a checker is called: a checker that raises gives ``unknown`` with the cause, never
``true``.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Iterable

from splitbrain.history.verdict import UNKNOWN, Verdict


def combine(verdicts: Iterable[Any]) -> bool | str:
    """The JSON form of the combined verdict of JSON ``valid`` values."""
    return Verdict.combine(verdicts).json


def run_checker(name: str, fn: Callable[[], dict]) -> dict:
    """Call a checker; turn a crash into ``{"valid": "unknown", "cause": ...}`` (with the traceback as evidence)."""
    try:
        result = fn()
    except MemoryError:
        return {"valid": UNKNOWN, "checker": name, "cause": "the checker ran out of memory"}
    except Exception as e:  # a checker bug must not turn into a verdict
        return {"valid": UNKNOWN, "checker": name, "cause": f"the checker crashed: {type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=8)}
    if not isinstance(result, dict) or result.get("valid") not in (True, False, UNKNOWN):
        return {"valid": UNKNOWN, "checker": name, "cause": f"the checker returned no verdict: {result!r:.200}"}
    return result
