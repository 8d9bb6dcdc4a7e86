"""Values that come from histories (JSON: null, booleans, numbers, strings, lists, objects), as keys.

* :func:`freeze` -- a hashable form (lists become tuples, objects sorted tuples of pairs), so equal JSON values are
  equal dictionary keys and set members;
* :func:`json_key` -- a canonical JSON string (sorted keys, no spaces), when the key must also be readable or
  ordered, or must tell ``1`` from ``true`` (``freeze`` does not: ``1 == True`` in Python).

Must not: depend on anything but the standard library (checkers, reports and the controller all use it).
"""

from __future__ import annotations

import json
from typing import Any


def freeze(v: Any) -> Any:
    """A hashable version of a JSON value (lists -> tuples, dicts -> sorted item tuples)."""
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, freeze(x)) for k, x in v.items()))
    return v


#: The name this had in the checkers' old _values module: code merged from before the move still imports it.
hashable = freeze


def json_key(v: Any) -> str:
    """The canonical JSON text of ``v``: equal values give equal strings, whatever their dicts' key order."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"))
