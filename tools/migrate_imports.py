#!/usr/bin/env python3
"""Rewrite references to the project's old top-level packages into the one import root: ``harness.x`` ->
``splitbrain.harness.x`` (and the same for ``nemesis``, ``checkers``, ``reports``, ``systems_under_test``).
migrate-imports: skip (this file names the old forms on purpose)

What it rewrites, in ``.py``, ``.toml``, ``.yml``/``.yaml`` files and inside the code (fenced blocks and inline
backticks) of ``.md`` files:

* import statements: ``from harness.api import X``, ``from harness import cli``, ``import checkers.linearizable as
  lin``, also inside strings (code a test writes to a file);
* dotted module paths anywhere else: ``"harness.systems.echo:EchoSystem"`` registry strings, ``mock.patch`` and
  ``monkeypatch.setattr`` targets, ``python -m systems_under_test.quorum_kv.server``, entry points in
  ``pyproject.toml`` files, ``harness.api.Host`` in docstrings, ``systems_under_test.<name>`` placeholders in docs.

A dotted path is rewritten only when its second part names a module or package that exists in that folder of the
repository (``harness/api.py``, ``harness/systems/``), so ``reports.append(...)`` on a variable, file names such as
``reports/templates`` or ``nodes/n1`` (slashes are never touched) and prose stay as they are. A name already
preceded by a dot (``splitbrain.harness.api``) is left alone, which makes the script idempotent: a second run
changes nothing. Files that contain the marker ``migrate-imports: skip`` (this script, its test) are skipped.

Then, second, modules that moved inside the root package (issue 13: the ground package ``splitbrain.history``, the
controller's sub-packages ``splitbrain.harness.commands``/``hosts``/``run``/``ci``/``testing``): :data:`MOVED` maps
each old dotted module path to its new one, and the script rewrites

* dotted paths wherever they stand (``from splitbrain.harness.runner import x``, ``import ... as y``,
  ``"splitbrain.harness.runner.time.sleep"`` in ``mock.patch``, ``"splitbrain.harness.cli:main"`` entry points);
* ``from splitbrain.harness import runner, cli_run as c`` (a moved module imported from its old parent): split into
  one import per new parent, each keeping the name the code uses (``from splitbrain.harness.run import runner``,
  ``from splitbrain.harness.commands import run as c``);
* file paths of moved modules (``harness/runner.py`` -> ``harness/run/runner.py``) in code and prose alike (a path
  to a ``.py`` file names exactly one file).

Usage: ``python tools/migrate_imports.py [ROOT] [--check]``. Prints each file it changed; with ``--check`` it
changes nothing and exits 1 if a file would change. Meant to be run again after merging branches that still use the
old names.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT_PACKAGE = "splitbrain"
OLD = ("harness", "nemesis", "checkers", "reports", "systems_under_test")
SUFFIXES = {".py", ".toml", ".yml", ".yaml", ".md"}
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "node_modules", "__pycache__", ".pytest_cache",
             ".hypothesis", "store", "test-artifacts"}
SKIP_MARKER = "migrate-imports: skip"

_OLD = "|".join(OLD)
# from OLD[.x.y] import ...   (the module path must be followed by "import": prose "from reports to" is not code)
_FROM = re.compile(rf"(?<![\w.])(from\s+)({_OLD})(?=(?:\.\w+)*\s+import\b)")
# import OLD[.x.y] [as z], at the start of a line or of a string literal
_IMPORT = re.compile(rf"((?:^|(?<=[\"']))[ \t]*import\s+)({_OLD})(?=[\s.;\"']|$)", re.MULTILINE)
# OLD.<child> anywhere (strings, docstrings, -m arguments); not after a word char, dot, slash or dash
_DOTTED = re.compile(rf"(?<![\w./\-])({_OLD})\.(<|[A-Za-z_]\w*)")
# "OLD" as the package argument of a loader
_LOADER = re.compile(rf"""(\b(?:PackageLoader|import_module|find_spec|files)\(\s*)(["'])({_OLD})(?=\2)""")
#: Modules that moved inside the root package: old dotted path -> new dotted path. Only ever add to this table (code
#: merged from older branches still uses every old path). A new path never starts with an old path plus a dot, so a
#: second run changes nothing.
MOVED = {
    # the ground package: the history format and the words used to judge it
    "splitbrain.harness.history": "splitbrain.history.ops",
    "splitbrain.harness.errors": "splitbrain.history.errors",
    "splitbrain.harness.verdict": "splitbrain.history.verdict",
    "splitbrain.harness.importers": "splitbrain.history.importers",
    "splitbrain.harness.importers_txn": "splitbrain.history.importers_txn",
    "splitbrain.harness.importers_independent": "splitbrain.history.importers_independent",
    "splitbrain.checkers._values": "splitbrain.history.values",  # its hashable() is values.hashable (= freeze)
    # the command line
    "splitbrain.harness.cli": "splitbrain.harness.commands.main",
    "splitbrain.harness.cli_check": "splitbrain.harness.commands.check",
    "splitbrain.harness.cli_cluster": "splitbrain.harness.commands.cluster",
    "splitbrain.harness.cli_report": "splitbrain.harness.commands.report",
    "splitbrain.harness.cli_run": "splitbrain.harness.commands.run",
    "splitbrain.harness.cli_suite": "splitbrain.harness.commands.suite",
    # hosts: local namespaces and SSH
    "splitbrain.harness.netns": "splitbrain.harness.hosts.netns",
    "splitbrain.harness.state": "splitbrain.harness.hosts.resources",
    "splitbrain.harness.cleanup": "splitbrain.harness.hosts.cleanup",
    "splitbrain.harness.cleanup_report": "splitbrain.harness.hosts.cleanup_report",
    "splitbrain.harness.cluster": "splitbrain.harness.hosts.cluster",
    "splitbrain.harness.ssh": "splitbrain.harness.hosts.ssh_host",
    "splitbrain.harness.ssh_cluster": "splitbrain.harness.hosts.ssh_cluster",
    "splitbrain.harness.ssh_config": "splitbrain.harness.hosts.ssh_config",
    # running one test
    "splitbrain.harness.runner": "splitbrain.harness.run.runner",
    "splitbrain.harness.interpreter": "splitbrain.harness.run.interpreter",
    "splitbrain.harness.workers": "splitbrain.harness.run.workers",
    "splitbrain.harness.analysis": "splitbrain.harness.run.analysis",
    "splitbrain.harness.startup": "splitbrain.harness.run.startup",
    "splitbrain.harness.progress": "splitbrain.harness.run.progress",
    "splitbrain.harness.spec": "splitbrain.harness.run.spec",
    "splitbrain.harness.store": "splitbrain.harness.run.run_dirs",
    "splitbrain.harness.fault_view": "splitbrain.harness.run.fault_view",
    "splitbrain.checkers._lin_plain": "splitbrain.checkers._lin_definite",  # a name that says what it searches
    # CI
    "splitbrain.harness.suite": "splitbrain.harness.ci.suite",
    "splitbrain.harness.replay": "splitbrain.harness.ci.replay",
    "splitbrain.harness.pytest_plugin": "splitbrain.harness.ci.pytest_plugin",
    # test-only hosts
    "splitbrain.harness.sshd_hosts": "splitbrain.harness.testing.sshd_hosts",
}


#: Names that moved to another module (a module split in two): old module -> {name: new module}. The old module is
#: given by its oldest dotted path; its path after :data:`MOVED` is looked up too. Rewritten in ``from M import ...``
#: and in dotted strings (``"M.name"``); an attribute reached through the old module object (``cluster.attach``
#: after ``from ... import cluster``) is not.
MOVED_NAMES = {
    "splitbrain.harness.cluster": {"create_local_cluster": "splitbrain.harness.hosts.local_cluster",
                                   "attach": "splitbrain.harness.hosts.local_cluster",
                                   "_local_teardown": "splitbrain.harness.hosts.local_cluster"},
    "splitbrain.harness.ssh_cluster": {"cleanup_ssh_run": "splitbrain.harness.hosts.ssh_cleanup",
                                       "KILL_WAIT": "splitbrain.harness.hosts.ssh_cleanup",
                                       "_sweep_script": "splitbrain.harness.hosts.ssh_cleanup",
                                       "_chain_script": "splitbrain.harness.hosts.ssh_cleanup",
                                       "_clean_host": "splitbrain.harness.hosts.ssh_cleanup",
                                       "_hosts_from_state": "splitbrain.harness.hosts.ssh_cleanup"},
    "splitbrain.harness.ssh": {n: "splitbrain.harness.hosts.ssh_connection" for n in (
        "SshConnection", "MAX_CHANNELS", "KILL_GRACE", "_ConnectionLost", "_UnknownHostKey", "_RefuseUnknown",
        "_AcceptNew", "_Tail", "_OnlyWhenDebugging", "_known_hosts_lock", "_fingerprint", "_why")},
}


def _file_of(module: str) -> str:
    """The repository path of a module: ``splitbrain.harness.run.runner`` -> ``harness/run/runner.py``."""
    parts = module.split(".")[1:]
    if parts[0] not in OLD:  # a module of the root package's own folder (splitbrain/history/...)
        parts = ["splitbrain", *parts]
    return "/".join(parts) + ".py"


def _compile() -> None:
    """The patterns of :data:`MOVED` (a function so that a partial table can be applied, one move at a time)."""
    global _MOVED_DOTTED, _MOVED_FILES, _MOVED_PATH, _FROM_PARENT, _NAMES, _NAME_DOTTED, _FROM_NAMES
    _NAMES = {}
    for old, names in MOVED_NAMES.items():
        for module in {old, MOVED.get(old, old)}:
            _NAMES[module] = names
    _NAME_DOTTED = re.compile(r"(?<![\w.])(" + "|".join(
        re.escape(f"{m}.{n}") for m in sorted(_NAMES) for n in sorted(_NAMES[m], key=len, reverse=True))
        + r")(?![\w])")
    # from <module that lost names> import a, b as c
    _FROM_NAMES = re.compile(
        r"^([ \t]*)from[ \t]+(" + "|".join(re.escape(m) for m in sorted(_NAMES, key=len, reverse=True))
        + r")[ \t]+import[ \t]+(\([^)]*\)|[^\n;#]*[^\s;#])", re.MULTILINE)
    _MOVED_DOTTED = re.compile(
        r"(?<![\w.])(" + "|".join(re.escape(m) for m in sorted(MOVED, key=len, reverse=True)) + r")(?![\w])")
    _MOVED_FILES = {_file_of(old): _file_of(new) for old, new in MOVED.items()}
    _MOVED_PATH = re.compile(
        r"(?<![\w./\-])(" + "|".join(re.escape(f) for f in sorted(_MOVED_FILES, key=len, reverse=True))
        + r")(?![\w])")
    parents = sorted({old.rpartition(".")[0] for old in MOVED}, key=len, reverse=True)
    # from <parent of a moved module> import a, b as c   (one line, or in parentheses over several)
    _FROM_PARENT = re.compile(
        r"^([ \t]*)from[ \t]+(" + "|".join(re.escape(p) for p in parents)
        + r")[ \t]+import[ \t]+(\([^)]*\)|[^\n;#]*[^\s;#])", re.MULTILINE)


_compile()


def _import_items(names: str) -> list[str]:
    """``a, b as c`` or ``(\n    a,  # why\n    b,\n)`` -> ``["a", "b as c"]`` (comments dropped)."""
    names = re.sub(r"#[^\n]*", "", names.strip().removeprefix("(").removesuffix(")"))
    return [" ".join(n.split()) for n in names.split(",") if n.strip()]


def _from_parent(m: re.Match) -> str:
    indent, parent, names = m.group(1), m.group(2), m.group(3)
    items = _import_items(names)
    if not any(f"{parent}.{item.split()[0]}" in MOVED for item in items):
        return m.group(0)
    stay: list[str] = []
    moved: dict[str, list[str]] = {}
    for item in items:
        name, _, alias = (part.strip() for part in item.partition(" as "))
        new = MOVED.get(f"{parent}.{name}")
        if new is None:
            stay.append(item)
            continue
        new_parent, _, leaf = new.rpartition(".")
        local = alias or name
        moved.setdefault(new_parent, []).append(leaf if leaf == local else f"{leaf} as {local}")
    lines = [f"{indent}from {parent} import {', '.join(stay)}"] if stay else []
    lines += [f"{indent}from {p} import {', '.join(ns)}" for p, ns in moved.items()]
    return "\n".join(lines)


def _from_names(m: re.Match) -> str:
    indent, module, names = m.group(1), m.group(2), m.group(3)
    moved = _NAMES[module]
    items = _import_items(names)
    if not any(item.partition(" as ")[0].strip() in moved for item in items):
        return m.group(0)
    by_module: dict[str, list[str]] = {}
    for item in items:
        by_module.setdefault(moved.get(item.partition(" as ")[0].strip(), MOVED.get(module, module)), []).append(item)
    return "\n".join(f"{indent}from {mod} import {', '.join(ns)}" for mod, ns in by_module.items())


def _name_dotted(m: re.Match) -> str:
    module, _, name = m.group(1).rpartition(".")
    return f"{_NAMES[module][name]}.{name}"


def rewrite_moved(text: str) -> str:
    """``text`` with every reference to a module of :data:`MOVED` (or a name of :data:`MOVED_NAMES`) rewritten to
    its new place."""
    if _NAMES:
        text = _FROM_NAMES.sub(_from_names, text)
        text = _NAME_DOTTED.sub(_name_dotted, text)
    text = _FROM_PARENT.sub(_from_parent, text)
    text = _MOVED_DOTTED.sub(lambda m: MOVED[m.group(1)], text)
    return _MOVED_PATH.sub(lambda m: _MOVED_FILES[m.group(1)], text)


# code regions of a Markdown file: fenced blocks, then inline code spans
_MD_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)


def module_children(repo: Path) -> dict[str, set[str]]:
    """For each old top-level folder of ``repo``: the names of its modules and sub-packages (what may follow
    ``folder.`` in an import path)."""
    children: dict[str, set[str]] = {}
    for old in OLD:
        folder = repo / old
        names: set[str] = set()
        if folder.is_dir():
            for p in folder.iterdir():
                if p.suffix == ".py" and p.stem != "__init__":
                    names.add(p.stem)
                elif p.is_dir() and (p / "__init__.py").is_file():
                    names.add(p.name)
        children[old] = names
    for moved in MOVED:  # a module that moved away is still a child for code that names it the oldest way
        _, old, *rest = moved.split(".")
        if old in children and rest:
            children[old].add(rest[0])
    return children


def rewrite_code(text: str, children: dict[str, set[str]]) -> str:
    """``text`` (Python source, TOML, or a code region of a document) with every old import path rewritten."""
    text = _FROM.sub(lambda m: f"{m.group(1)}{ROOT_PACKAGE}.{m.group(2)}", text)
    text = _IMPORT.sub(lambda m: f"{m.group(1)}{ROOT_PACKAGE}.{m.group(2)}", text)
    text = _LOADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{ROOT_PACKAGE}.{m.group(3)}", text)

    def dotted(m: re.Match) -> str:
        old, child = m.group(1), m.group(2)
        if child == "<" or child in children.get(old, ()):
            return f"{ROOT_PACKAGE}.{m.group(0)}"
        return m.group(0)

    return rewrite_moved(_DOTTED.sub(dotted, text))


def rewrite_markdown(text: str, children: dict[str, set[str]]) -> str:
    """Only the code of a Markdown file is rewritten; its prose never is (but for paths of moved files)."""
    text = _MD_CODE.sub(lambda m: rewrite_code(m.group(0), children), text)
    return _MOVED_PATH.sub(lambda m: _MOVED_FILES[m.group(1)], text)


def rewrite_file(path: Path, children: dict[str, set[str]]) -> str | None:
    """The new text of ``path``, or None if it does not change (or is skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if SKIP_MARKER in text:
        return None
    new = rewrite_markdown(text, children) if path.suffix == ".md" else rewrite_code(text, children)
    return new if new != text else None


def candidate_files(repo: Path):
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts[:-1]):
            continue
        if path.is_file() and path.suffix in SUFFIXES:
            yield path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parent.parent),
                    help="repository to rewrite (default: the one this script is in)")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    args = ap.parse_args(argv)
    repo = Path(args.root).resolve()
    children = module_children(repo)
    changed = 0
    for path in candidate_files(repo):
        new = rewrite_file(path, children)
        if new is None:
            continue
        changed += 1
        print(path.relative_to(repo))
        if not args.check:
            path.write_text(new, encoding="utf-8")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
