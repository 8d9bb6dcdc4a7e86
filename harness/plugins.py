"""Plugins: systems, workloads and models that live outside this repository.

A plugin is a Python module. Importing it may register things itself (``splitbrain.harness.systems.register_system``,
``splitbrain.harness.workloads.register_workload``, ``splitbrain.checkers.models.MODELS``); if it also defines a ``register()`` function,
that is called once after the import. Plugins arrive two ways:

* ``splitbrain --plugin MODULE ...`` (or :func:`load_plugin`): the module must be importable (installed, or on
  ``PYTHONPATH``). A module that can't be imported is bad input (exit 254), named in one sentence.
* Python entry points in the group ``splitbrain.plugins`` of any installed distribution (:func:`load_entry_points`),
  e.g. in its pyproject.toml ``[project.entry-points."splitbrain.plugins"] etcd = "splitbrain_etcd"``. The entry
  point may name a module or a callable (``"pkg.mod:register"``), which is then called with no arguments.

Loading is idempotent: a module or entry point is loaded at most once per process. Must not: let one broken
*installed* plugin break every command (it is reported as a warning and skipped, so ``splitbrain --help`` still
works), or import anything heavy itself (the pytest plugin calls this in every session that uses it).
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib import metadata
from types import ModuleType
from typing import Callable

from splitbrain.harness.errors import BadInput

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "splitbrain.plugins"

_loaded: set[str] = set()


def _call_register(obj) -> None:
    register = getattr(obj, "register", None)
    if callable(register):
        register()


def load_plugin(module: str) -> ModuleType:
    """Import ``module`` (once) and call its ``register()`` if it has one. BadInput naming ``--plugin`` if it
    can't be imported; errors raised by the plugin's own code propagate unchanged (they are the plugin's bugs)."""
    key = f"module:{module}"
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            raise BadInput(f"no plugin module {module!r} (is it installed or on PYTHONPATH? sys.path starts "
                           f"with {sys.path[:3]!r})", "--plugin") from None
        raise
    if key not in _loaded:
        _loaded.add(key)
        _call_register(mod)
    return mod


def load_entry_points(*, warn: Callable[[str], None] | None = None) -> list[str]:
    """Load every ``splitbrain.plugins`` entry point not loaded yet; return the names loaded now. A plugin that
    fails to load is reported through ``warn`` (default: the log) and skipped."""
    warn = warn or log.warning
    done = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"ep:{ep.name}={ep.value}"
        if key in _loaded:
            continue
        _loaded.add(key)
        try:
            obj = ep.load()
            if isinstance(obj, ModuleType):
                _call_register(obj)
            elif callable(obj):
                obj()
            else:
                raise TypeError(f"{ep.value} is neither a module nor a callable")
        except Exception as e:  # an installed plugin's bug must not take every command down with it
            dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed distribution"
            warn(f"plugin {ep.name!r} ({ep.value}, from {dist}) failed to load and is skipped: "
                 f"{type(e).__name__}: {e}")
            continue
        done.append(ep.name)
    return done
