"""Plugins: a module named with --plugin, and entry points of installed distributions, register systems that the
CLI then knows. No node processes: these check discovery, not runs (tests/test_example_etcd.py runs one)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from splitbrain.harness import plugins
from splitbrain.history.errors import BadInput

ROOT = Path(__file__).resolve().parent.parent
SPLITBRAIN = str(Path(sys.executable).with_name("splitbrain"))

PLUGIN_SRC = textwrap.dedent('''
    from splitbrain.harness.systems import register_system
    from splitbrain.harness.workloads import register_workload

    CALLS = []

    def register():
        CALLS.append(1)
        register_system("{name}", "splitbrain.harness.systems.echo:EchoSystem")
        register_workload("{name}-wl", "splitbrain.harness.workloads.register")
''')


def _write_plugin(directory: Path, module: str, name: str) -> None:
    (directory / f"{module}.py").write_text(PLUGIN_SRC.format(name=name))


@pytest.fixture
def registry_snapshot():
    """Plugins change process-wide registries: put them back after each test."""
    from splitbrain.harness import systems, workloads
    saved = (dict(systems._SYSTEMS), dict(workloads._WORKLOADS), set(plugins._loaded))
    yield
    systems._SYSTEMS.clear(), systems._SYSTEMS.update(saved[0])
    workloads._WORKLOADS.clear(), workloads._WORKLOADS.update(saved[1])
    plugins._loaded.clear(), plugins._loaded.update(saved[2])


def test_load_plugin_registers_once(tmp_path, monkeypatch, registry_snapshot):
    from splitbrain.harness.systems import get_system, system_names
    from splitbrain.harness.workloads import get_workload

    _write_plugin(tmp_path, "sb_plug_a", "plug-a")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = plugins.load_plugin("sb_plug_a")
    plugins.load_plugin("sb_plug_a")
    assert mod.CALLS == [1]
    assert "plug-a" in system_names()
    assert get_system("plug-a").name == "echo"
    assert get_workload("plug-a-wl").name == "register"


def test_missing_plugin_is_bad_input():
    with pytest.raises(BadInput) as e:
        plugins.load_plugin("sb_no_such_plugin_module")
    assert e.value.location == "--plugin" and "sb_no_such_plugin_module" in str(e.value)


def test_entry_points_are_discovered_and_a_broken_one_is_skipped(tmp_path, monkeypatch, registry_snapshot):
    """A distribution on sys.path with entry points in 'splitbrain.plugins': one module, one callable, one broken."""
    from splitbrain.harness.systems import system_names

    _write_plugin(tmp_path, "sb_plug_b", "plug-b")
    (tmp_path / "sb_plug_c.py").write_text(
        "from splitbrain.harness.systems import register_system\n"
        "def hook():\n    register_system('plug-c', 'splitbrain.harness.systems.echo:EchoSystem')\n")
    dist = tmp_path / "sb_fake_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sb-fake-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[splitbrain.plugins]\nb = sb_plug_b\nc = sb_plug_c:hook\n"
                                           "broken = sb_plug_missing_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    warnings = []
    loaded = plugins.load_entry_points(warn=warnings.append)
    assert {"b", "c"} <= set(loaded) and "broken" not in loaded
    assert {"plug-b", "plug-c"} <= set(system_names())
    assert len(warnings) == 1 and "broken" in warnings[0] and "sb-fake-plugins" in warnings[0]
    assert plugins.load_entry_points(warn=warnings.append) == []  # idempotent


def _cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([SPLITBRAIN, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.timeout(60)
def test_cli_plugin_option(tmp_path):
    _write_plugin(tmp_path, "sb_plug_cli", "plug-cli")
    p = _cli("--plugin", "sb_plug_cli", "systems", env_extra={"PYTHONPATH": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert "plug-cli:" in p.stdout
    p = _cli("--plugin", "sb_plug_nope", "systems")
    assert p.returncode == 254
    assert "--plugin" in p.stderr and "sb_plug_nope" in p.stderr


@pytest.mark.timeout(60)
def test_etcd_example_registers_through_the_plugin_option():
    p = _cli("--plugin", "splitbrain_etcd", "systems", env_extra={"PYTHONPATH": str(ROOT / "examples" / "etcd")})
    assert p.returncode == 0, p.stderr
    assert "etcd:" in p.stdout and "--variant serializable-reads" in p.stdout
