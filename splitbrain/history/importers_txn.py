"""Fast reading of Jepsen's transaction ops in ``history.edn`` (Elle's list-append and rw-register histories).

``{:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [1 2]] [:w 3 4]], :process 0, :time 12, :index 5}`` becomes
``{"type": "ok", "f": "txn", "value": [["append", 1, 2], ["r", 1, [1, 2]], ["w", 3, 4]], ...}``: the micro-op
names as strings, ``nil`` as None, lists as lists (docs/history-format.md). The general EDN path reads these lines
the same way, about a hundred times slower; this one only handles the simple shapes (integer, keyword and string
keys and values) and returns None for anything else, so results never differ.
"""

from __future__ import annotations

import re

_SCALAR = r'(?:nil|-?\d+|:[A-Za-z][\w\-]*|"[^"\\]*")'
_MOP = rf'\[\s*:(r|append|w)\s+({_SCALAR})\s+({_SCALAR}|\[(?:\s*{_SCALAR}\s*,?)*\s*\])\s*\]'
_VALUE = re.compile(rf':value\s+(\[(?:\s*{_MOP}\s*,?)*\s*\])')
_MOPS = re.compile(_MOP)


def fast_txn_map(text: str, fast_edn_map, fast_value) -> dict | None:
    """One EDN op line whose ``:value`` is a vector of micro-ops, as ``importers.from_edn`` would give it; None
    when the line has another shape (the caller then uses the general parser). ``fast_edn_map`` and ``fast_value``
    are the importer's own fast paths for the rest of the map and for one value (passed in: this module is a
    part of splitbrain.history.importers and must not import it back)."""
    _fast_edn_map, _fast_value = fast_edn_map, fast_value
    m = _VALUE.search(text)
    if m is None:
        return None
    d = _fast_edn_map(text[:m.start()] + ":value nil" + text[m.end():])
    if d is None or d.get("value") is not None:
        return None
    d["value"] = [[f, _fast_value(k), _fast_value(v.replace(",", " ") if v[0] == "[" else v)]
                  for f, k, v in _MOPS.findall(m.group(1))]
    return d
