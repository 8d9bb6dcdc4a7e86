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

    return _DOTTED.sub(dotted, text)


def rewrite_markdown(text: str, children: dict[str, set[str]]) -> str:
    """Only the code of a Markdown file is rewritten; its prose never is."""
    return _MD_CODE.sub(lambda m: rewrite_code(m.group(0), children), text)


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
