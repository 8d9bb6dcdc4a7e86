"""Helpers for building small histories by hand in the causal/convergence checker tests (no tests here)."""

from __future__ import annotations

from splitbrain.history.ops import Op


class H:
    """Appends ops with dense indices and increasing times. ``op`` records an invoke and its completion at once."""

    def __init__(self):
        self.ops: list[Op] = []

    def _add(self, process, type, f, value=None, key=None, node=None, error=None) -> int:
        i = len(self.ops)
        self.ops.append(Op(i, i * 1000, process, type, f, value, node, key, error))
        return i

    def invoke(self, process, f, value=None, key=None, node=None) -> int:
        return self._add(process, "invoke", f, value, key, node)

    def complete(self, process, f, value=None, type="ok", key=None, node=None) -> int:
        return self._add(process, type, f, value, key, node)

    def op(self, process, f, value=None, result=None, type="ok", key=None, node=None) -> int:
        """An invoke and its completion; returns the invoke index. Reads pass their result in ``result``."""
        i = self.invoke(process, f, None if f in ("read", "final-read") else value, key, node)
        out = result if f in ("read", "final-read") else value
        self.complete(process, f, out, type, key, node)
        return i

    def w(self, process, key, value, type="ok"):
        return self.op(process, "write", value, key=key, type=type)

    def r(self, process, key, result):
        return self.op(process, "read", result=result, key=key)
