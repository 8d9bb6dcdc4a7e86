"""The fastest available verdict-only search for one part (placeholder until the native core lands: the pure
lean search of :mod:`checkers._lin_plain`). Contract: :func:`fast_verdict` answers True / False, or None when it
does not apply (the caller then runs :func:`checkers._lin_search.search`)."""

from __future__ import annotations

from checkers._lin_plain import plain_verdict


def fast_verdict(history: list, model, budget) -> bool | None:
    return plain_verdict(history, model, budget)
