"""tools/migrate_imports.py: old top-level names -> splitbrain.*, on sample lines (what changes, what must not),
idempotence, a small repository on disk, and this repository itself (nothing left to migrate).
migrate-imports: skip (the samples below are written in the old names on purpose)"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("migrate_imports", ROOT / "tools" / "migrate_imports.py")
mi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mi)

CHILDREN = {"harness": {"api", "cli", "runner", "store", "systems", "plugins", "pytest_plugin"},
            "nemesis": {"packages", "grudge"}, "checkers": {"linearizable", "compose"},
            "reports": {"render", "run_dir"}, "systems_under_test": {"quorum_kv", "echo"}}

REWRITTEN = [
    ("from harness.api import System, Client", "from splitbrain.harness.api import System, Client"),
    ("from harness import plugins", "from splitbrain.harness import plugins"),
    ("    from nemesis.grudge import SHAPES  # lazy", "    from splitbrain.nemesis.grudge import SHAPES  # lazy"),
    ("import checkers.linearizable as lin", "import splitbrain.checkers.linearizable as lin"),
    ("import harness", "import splitbrain.harness"),
    ('    "echo": "harness.systems.echo:EchoSystem",', '    "echo": "splitbrain.harness.systems.echo:EchoSystem",'),
    ('mock.patch("harness.plugins.time.sleep", fake)', 'mock.patch("splitbrain.harness.plugins.time.sleep", fake)'),
    ('monkeypatch.setattr("nemesis.packages.time.sleep", boom)',
     'monkeypatch.setattr("splitbrain.nemesis.packages.time.sleep", boom)'),
    ('[python, "-m", "systems_under_test.quorum_kv.server", "--config", p]',
     '[python, "-m", "splitbrain.systems_under_test.quorum_kv.server", "--config", p]'),
    ('package = "systems_under_test.echo"', 'package = "splitbrain.systems_under_test.echo"'),
    ('splitbrain = "harness.cli:main"', 'splitbrain = "splitbrain.harness.commands.main:main"'),
    ('splitbrain = "harness.pytest_plugin"', 'splitbrain = "splitbrain.harness.ci.pytest_plugin"'),
    ('[sys.executable, "-c", "from harness.cli import main; main()"]',
     '[sys.executable, "-c", "from splitbrain.harness.commands.main import main; main()"]'),
    ('"import harness.api\\n"', '"import splitbrain.harness.api\\n"'),
    ('"""Hosts through :class:`~harness.api.Host` (see reports.render)."""',
     '"""Hosts through :class:`~splitbrain.harness.api.Host` (see splitbrain.reports.render)."""'),
    ("python -m systems_under_test.<name>.server", "python -m splitbrain.systems_under_test.<name>.server"),
    ('jinja2.PackageLoader("harness", ".")', 'jinja2.PackageLoader("splitbrain.harness", ".")'),
]

UNCHANGED = [
    "reports.append(CleanupReport(rid))",            # a variable, not the package: no reports/append.py
    "for name, fn in checkers.items():",
    'assert {f"start-{n}" for n in nemesis.split(",")}',
    "spec.nemesis.packages",                         # an attribute, after a dot
    'Path("reports/templates/report.html.j2")',      # file paths: slashes are never touched
    "store/<test>/<timestamp>/nodes/n1/node.stdout.log",
    "harness/cli_<group>.py",
    '"""Verdicts come from checkers and reports render them; nothing from harness. Then more."""',
    "    # the nemesis thread records from reports to checkers",
    'NEMESIS = "nemesis"',                           # a word of the history format
    '@click.group("nemesis")',
    '[tool.setuptools.packages.find]\ninclude = ["harness*", "checkers*"]',
    "from splitbrain.harness.api import System",    # already migrated
    'register_system("x", "splitbrain.harness.systems.echo:EchoSystem")',
    "import splitbrain.checkers.linearizable as lin",
    "from . import core",
    "from .storage import Storage",
    "harness.unknown_module.thing",                  # not a module of that folder
]


@pytest.mark.parametrize("old,new", REWRITTEN)
def test_rewrites_old_references(old, new):
    assert mi.rewrite_code(old, CHILDREN) == new


@pytest.mark.parametrize("line", UNCHANGED)
def test_leaves_prose_paths_variables_and_migrated_names_alone(line):
    assert mi.rewrite_code(line, CHILDREN) == line


@pytest.mark.parametrize("line", [old for old, _ in REWRITTEN] + UNCHANGED)
def test_idempotent(line):
    once = mi.rewrite_code(line, CHILDREN)
    assert mi.rewrite_code(once, CHILDREN) == once


def test_markdown_rewrites_code_only():
    doc = ("The harness.api module is prose here, but `harness.api.node_config` is code.\n"
           "Paths stay: `harness/api.py`, `reports/templates`.\n"
           "```python\nfrom harness.systems import register_system\n```\n")
    out = mi.rewrite_markdown(doc, CHILDREN)
    assert out == ("The harness.api module is prose here, but `splitbrain.harness.api.node_config` is code.\n"
                   "Paths stay: `harness/api.py`, `reports/templates`.\n"
                   "```python\nfrom splitbrain.harness.systems import register_system\n```\n")
    assert mi.rewrite_markdown(out, CHILDREN) == out


MOVED = [
    # moved modules, named the new way or the oldest way
    ("from splitbrain.harness.runner import run_test", "from splitbrain.harness.run.runner import run_test"),
    ("from harness.history import Op, pair_ops", "from splitbrain.history.ops import Op, pair_ops"),
    ("import splitbrain.harness.verdict as v", "import splitbrain.history.verdict as v"),
    # a moved module imported from its old parent keeps the name the code uses, one import per new parent
    ("    from splitbrain.harness import store", "    from splitbrain.harness.run import run_dirs as store"),
    ("from splitbrain.harness import api, runner, cli_run as c",
     "from splitbrain.harness import api\nfrom splitbrain.harness.run import runner\n"
     "from splitbrain.harness.commands import run as c"),
    ("from splitbrain.harness import (\n    history,  # the op record\n    plugins,\n)",
     "from splitbrain.harness import plugins\nfrom splitbrain.history import ops as history"),
    # names that left a split module, imported with others that stayed
    ("from splitbrain.harness.cluster import Cluster, create_local_cluster",
     "from splitbrain.harness.hosts.cluster import Cluster\n"
     "from splitbrain.harness.hosts.local_cluster import create_local_cluster"),
    ('mock.patch("splitbrain.harness.ssh_cluster.cleanup_ssh_run")',
     'mock.patch("splitbrain.harness.hosts.ssh_cleanup.cleanup_ssh_run")'),
    # strings: mock targets, entry points, -m paths; file paths of moved modules, in prose too
    ('mock.patch("splitbrain.harness.runner.time.sleep", f)', 'mock.patch("splitbrain.harness.run.runner.time.sleep", f)'),
    ('splitbrain = "harness.cli:main"', 'splitbrain = "splitbrain.harness.commands.main:main"'),
    ('splitbrain = "splitbrain.harness.pytest_plugin"', 'splitbrain = "splitbrain.harness.ci.pytest_plugin"'),
    ("see harness/ssh.py and harness/history.py", "see harness/hosts/ssh_host.py and splitbrain/history/ops.py"),
]

MOVED_UNCHANGED = [
    "from splitbrain.harness.run import runner",
    "from splitbrain.harness.hosts.cluster import Cluster",
    "splitbrain.harness.runners.x",                  # a longer name is another module
    "harness/run/runner.py",
    "from splitbrain.harness import api, plugins",
]


@pytest.mark.parametrize("old,new", MOVED)
def test_rewrites_moved_modules(old, new):
    children = mi.module_children(ROOT)
    assert mi.rewrite_code(old, children) == new
    assert mi.rewrite_code(new, children) == new


@pytest.mark.parametrize("line", MOVED_UNCHANGED)
def test_leaves_new_places_alone(line):
    assert mi.rewrite_code(line, mi.module_children(ROOT)) == line


def test_moved_table_is_consistent():
    """Every new place exists in this repository, and no new path starts with an old one (idempotence)."""
    for old, new in mi.MOVED.items():
        assert (ROOT / mi._file_of(new)).is_file(), new
        assert not any(n.startswith(o + ".") for o in mi.MOVED for n in mi.MOVED.values()), (old, new)


def test_a_small_repository_twice(tmp_path, capsys):
    (tmp_path / "harness" / "systems").mkdir(parents=True)
    (tmp_path / "harness" / "__init__.py").write_text("")
    (tmp_path / "harness" / "api.py").write_text("X = 1\n")
    (tmp_path / "harness" / "systems" / "__init__.py").write_text('S = {"e": "harness.systems.echo:E"}\n')
    (tmp_path / "harness" / "systems" / "echo.py").write_text("from harness.api import X\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("See `harness.api.X` in harness/api.py.\n")
    (tmp_path / "pyproject.toml").write_text('[project.scripts]\nx = "harness.api:X"\n')
    (tmp_path / "keep.py").write_text("# migrate-imports: skip\nfrom harness.api import X\n")
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "m.py").write_text("from harness.api import X\n")

    assert mi.main([str(tmp_path), "--check"]) == 1
    assert len(capsys.readouterr().out.split()) == 4
    assert "from harness.api" in (tmp_path / "harness" / "systems" / "echo.py").read_text()  # --check wrote nothing
    assert mi.main([str(tmp_path)]) == 0
    changed = capsys.readouterr().out.split()
    assert sorted(changed) == ["docs/a.md", "harness/systems/__init__.py", "harness/systems/echo.py",
                               "pyproject.toml"]
    assert (tmp_path / "harness" / "systems" / "echo.py").read_text() == "from splitbrain.harness.api import X\n"
    assert (tmp_path / "docs" / "a.md").read_text() == "See `splitbrain.harness.api.X` in harness/api.py.\n"
    assert (tmp_path / "pyproject.toml").read_text() == '[project.scripts]\nx = "splitbrain.harness.api:X"\n'
    assert "from harness.api" in (tmp_path / "keep.py").read_text()
    assert "from harness.api" in (tmp_path / ".venv" / "lib" / "m.py").read_text()
    assert mi.main([str(tmp_path), "--check"]) == 0   # a second run has nothing left to do
    assert capsys.readouterr().out == ""


def test_this_repository_is_migrated(capsys):
    """After a merge of branches still written in the old names this fails until the script is re-run."""
    assert mi.main([str(ROOT), "--check"]) == 0, capsys.readouterr().out
