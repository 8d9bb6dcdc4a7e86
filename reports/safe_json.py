"""JSON that is safe to put inside an HTML ``<script>`` element.

Contract: the output parses with ``JSON.parse`` to the same value, and contains none of ``<``, ``>``, ``&``, ``'``
or U+2028/U+2029 literally, so no value (``</script>``, ``<!--``) can end the element or change how the HTML
parser reads it. Jinja's ``htmlsafe_json_dumps`` does the HTML part; the two line separators are escaped here
too because older JavaScript parsers treat them as line ends inside string literals.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jinja2.utils import htmlsafe_json_dumps

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode   # one encoder, reused
_dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def script_json(obj: Any) -> str:
    """Serialise ``obj`` for a ``<script type="application/json">`` block (returns a plain str; the caller marks
    it safe only in that context). NaN and infinities are refused: ``JSON.parse`` would reject them."""
    out = str(htmlsafe_json_dumps(obj, dumps=_dumps))
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def short_json(value: Any, limit: int = 80) -> str:
    """A one-line JSON rendering of a history value for people, cut to ``limit`` characters with an ellipsis.
    Never fails: values that are not JSON (NaN from a lenient reader) fall back to ``repr``."""
    return cut(text_of(value), limit)


def text_of(value: Any) -> str:
    """JSON text of a value (strings quoted, so ``"3"`` and ``3`` differ), ``repr`` when it is not JSON."""
    # Fast paths for the values most ops carry (100,000-op reports call this for every op).
    if value is None:
        return "null"
    if type(value) is int:
        return str(value)
    try:
        text = _encode(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
