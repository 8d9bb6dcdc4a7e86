"""Messages as dictionary keys: JSON values from a history made hashable (lists become tuples, objects sorted
tuples of pairs), so equal JSON values are equal keys."""

from __future__ import annotations


def hashable(v):
    if isinstance(v, list):
        return tuple(hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, hashable(x)) for k, x in v.items()))
    return v
