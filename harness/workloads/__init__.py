"""Workloads: each one file bundling what to do (client ops), how to end (final ops) and how to judge (checkers),
registered in a plain dict (Maelstrom's ``workloads`` map).

A workload module defines ``WORKLOAD = Workload(...)``. Its op functions are pure functions of the generator
context (they draw randomness only from ``ctx.rng`` and read time only from ``ctx.time``), so the generator that
wraps them stays pure and seeded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from splitbrain.history.errors import BadInput
from splitbrain.history.ops import Op


@dataclass(frozen=True)
class Workload:
    """``client_op(ctx, options) -> {"f", "key"?, "value"?}`` draws the next client op; ``final_op(ctx, options)``
    is what every client thread does once after the faults are healed (a final read), or None; ``checkers(options)``
    returns name -> function(history) -> result dict. ``options`` is the test's options dict (test.json).
    ``client_gen(options, rate=, nodes=) -> Generator``, where given, replaces ``client_op`` during the test: a
    generator that paces its own fresh ops at ``rate`` per second and reacts to completions (causal-kv builds
    causal chains with it); ``client_op`` still describes one plain op."""

    name: str
    description: str
    client_op: Callable[[Any, dict], dict]
    final_op: Callable[[Any, dict], dict] | None
    checkers: Callable[[dict], dict[str, Callable[[Sequence[Op]], dict]]]
    #: The linearizability model, where the workload is checked for linearizability.
    model: str | None = None
    defaults: dict = field(default_factory=dict)
    client_gen: Callable[..., Any] | None = None


_WORKLOADS: dict[str, str] = {
    "register": "splitbrain.harness.workloads.register",
    "kv": "splitbrain.harness.workloads.kv",
    "set": "splitbrain.harness.workloads.set",
    "counter": "splitbrain.harness.workloads.counter",
    "crdt-counter": "splitbrain.harness.workloads.crdt_counter",
    "crdt-set": "splitbrain.harness.workloads.crdt_set",
    "causal-kv": "splitbrain.harness.workloads.causal_kv",
    "or-set": "splitbrain.harness.workloads.crdt_or_set",
    "lww-register": "splitbrain.harness.workloads.lww_register",
    "list-append": "splitbrain.harness.workloads.list_append",
    "rw-register": "splitbrain.harness.workloads.rw_register",
    "queue": "splitbrain.harness.workloads.queue",
    "chat": "splitbrain.harness.workloads.chat",
}


def workload_names() -> list[str]:
    return sorted(_WORKLOADS)


def register_workload(name: str, module: str) -> None:
    """Add a workload module (used by plugins and by systems that bring their own)."""
    _WORKLOADS[name] = module


def get_workload(name: str) -> Workload:
    module = _WORKLOADS.get(name)
    if module is None:
        raise BadInput(f"unknown workload {name!r} (known: {', '.join(workload_names())})", "--workload")
    return importlib.import_module(module).WORKLOAD
