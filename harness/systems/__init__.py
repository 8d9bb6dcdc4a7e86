"""The registry of systems under test: name -> "module:Class" of its harness-side adapter (a splitbrain.harness.api.System).

Adapters are imported lazily so that a broken or heavy one does not slow every command down. Add a system with one
line in ``_SYSTEMS``; users' own systems arrive through the plugin mechanism (splitbrain.harness.plugins).
"""

from __future__ import annotations

import importlib

from splitbrain.harness.api import System
from splitbrain.history.errors import BadInput

_SYSTEMS: dict[str, str] = {
    "echo": "splitbrain.harness.systems.echo:EchoSystem",
    "crdt-store": "splitbrain.harness.systems.crdt_store:CrdtStoreSystem",
    "quorum-kv": "splitbrain.harness.systems.quorum_kv:QuorumKV",
    "raft-kv": "splitbrain.harness.systems.raft_kv:RaftKV",
    "twopc-kv": "splitbrain.harness.systems.twopc_kv:TwoPCKV",
    "chat": "splitbrain.harness.systems.chat:Chat",
    "work-queue": "splitbrain.harness.systems.work_queue:WorkQueue",
}


def system_names() -> list[str]:
    return sorted(_SYSTEMS)


def register_system(name: str, target: str) -> None:
    """Register ``name`` -> ``"module:Class"`` (used by plugins)."""
    _SYSTEMS[name] = target


def get_system(name: str) -> System:
    """A new instance of the named system's adapter; BadInput naming ``--system`` if there is none."""
    target = _SYSTEMS.get(name)
    if target is None:
        raise BadInput(f"unknown system {name!r} (known: {', '.join(system_names()) or 'none'})", "--system")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)()
