"""Plugins: systems, workloads and models that live outside this repository.

A plugin is a Python module. Importing it may register things itself (``splitbrain.harness.systems.register_system``,
``splitbrain.harness.workloads.register_workload``, ``splitbrain.checkers.models.MODELS``); if it also defines a ``register()`` function,
that is called once after the import. Plugins arrive two ways:

* ``splitbrain --plugin MODULE ...`` (or :func:`load_plugin`): the module must be importable (installed, or on
  ``PYTHONPATH``). A module that can't be imported is bad input (exit 254), named in one sentence.
* Python entry points in the group ``splitbrain.plugins`` of any installed distribution (:func:`load_entry_points`),
  e.g. in its pyproject.toml ``[project.entry-points."splitbrain.plugins"] etcd = "splitbrain_etcd"``. The entry
  point may name a module or a callable (``"pkg.mod:register"``), which is then called with no arguments.

Modules loaded with ``--plugin`` are remembered with the directory they were imported from
(:func:`loaded_plugins`): the runner records them in ``test.json``, so ``replay`` (from any directory), the report's
command and suites load them again (:func:`load_plugin` with ``path``).

Loading is idempotent: a module or entry point is loaded at most once per process. Must not: let one broken
*installed* plugin break every command (it is reported as a warning and skipped, so ``splitbrain --help`` still
works), or import anything heavy itself (the pytest plugin calls this in every session that uses it).
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Callable

from splitbrain.harness import systems, workloads
from splitbrain.history.errors import BadInput

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "splitbrain.plugins"

_loaded: set[str] = set()
#: --plugin modules loaded in this process, in order -> the sys.path directory they came from (None if installed).
_modules: dict[str, str | None] = {}
#: --plugin module -> what it registered ("system:NAME", "workload:NAME"), so a run records only the plugins it uses.
_provides: dict[str, set[str]] = {}


def _registered() -> set[str]:
    return {f"system:{n}" for n in systems._SYSTEMS} | {f"workload:{n}" for n in workloads._WORKLOADS}


def _origin(mod: ModuleType, module: str) -> str | None:
    """The sys.path entry ``module`` was imported from, or None for an installed one (site-packages)."""
    top = sys.modules.get(module.split(".")[0], mod)
    file = getattr(top, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    root = path.parent.parent if path.name == "__init__.py" else path.parent
    if any(part in ("site-packages", "dist-packages") for part in root.parts):
        return None
    return str(root)


def loaded_plugins(system: str | None = None, workload: str | None = None) -> dict[str, str | None]:
    """The ``--plugin`` modules loaded so far -> the directory to put on sys.path for them (None: installed);
    with ``system``/``workload``, only the modules that registered that system or workload."""
    if system is None and workload is None:
        return dict(_modules)
    wanted = {f"system:{system}", f"workload:{workload}"}
    return {m: p for m, p in _modules.items() if _provides.get(m, set()) & wanted}


def _call_register(obj) -> None:
    register = getattr(obj, "register", None)
    if callable(register):
        register()


def load_plugin(module: str, path: str | None = None) -> ModuleType:
    """Import ``module`` (once) and call its ``register()`` if it has one. ``path`` (recorded by an earlier run)
    is added to sys.path when the module can't be imported without it. BadInput naming ``--plugin`` if it can't be
    imported; errors raised by the plugin's own code propagate unchanged (they are the plugin's bugs)."""
    key = f"module:{module}"
    before = _registered()
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if not (e.name and (module == e.name or module.startswith(e.name + "."))):
            raise
        if path and Path(path).is_dir() and path not in sys.path:
            sys.path.append(path)
            return load_plugin(module, path)
        raise BadInput(f"no plugin module {module!r} (is it installed or on PYTHONPATH? sys.path starts "
                       f"with {sys.path[:3]!r}{f'; recorded path {path!r}' if path else ''})", "--plugin") from None
    if key not in _loaded:
        _loaded.add(key)
        _call_register(mod)
        _provides.setdefault(module, set()).update(_registered() - before)
    _modules.setdefault(module, _origin(mod, module))
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
        before = _registered()
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
        # What the entry point's module registered, so that a later `--plugin` of the same module is recorded for
        # that system (a plugin dir on PYTHONPATH that `pip install` left an egg-info in is both at once).
        _provides.setdefault(ep.module, set()).update(_registered() - before)
        done.append(ep.name)
    return done
