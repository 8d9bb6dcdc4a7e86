"""A --plugin module that an entry point already loaded is still recorded for the system it registers.

It happens to a newcomer: `pip install examples/X` (or of their own plugin dir) leaves `X.egg-info` in the source
tree, so with that dir on PYTHONPATH the module is found as an entry point first, and `--plugin` then imports
nothing new. The run must still record the plugin (test.json's "plugins": replay and the report's reproduce
command load it again)."""

from __future__ import annotations

import pytest

from splitbrain.harness import plugins


@pytest.fixture
def plugin_state():
    """Plugins change process-wide registries: put them back after the test."""
    from splitbrain.harness import systems
    saved = (dict(systems._SYSTEMS), set(plugins._loaded), dict(plugins._modules),
             {k: set(v) for k, v in plugins._provides.items()})
    yield
    systems._SYSTEMS.clear(), systems._SYSTEMS.update(saved[0])
    plugins._loaded.clear(), plugins._loaded.update(saved[1])
    plugins._modules.clear(), plugins._modules.update(saved[2])
    plugins._provides.clear(), plugins._provides.update(saved[3])


def test_a_plugin_found_as_an_entry_point_first_is_recorded_for_its_system(tmp_path, monkeypatch, plugin_state):
    (tmp_path / "sb_plug_egg.py").write_text(
        "from splitbrain.api import register_system\n"
        "def register():\n    register_system('plug-egg', 'splitbrain.harness.systems.echo:EchoSystem')\n")
    egg = tmp_path / "sb_plug_egg.egg-info"  # what `pip install <dir>` leaves behind in <dir>
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: sb-plug-egg\nVersion: 0.1\n")
    (egg / "entry_points.txt").write_text("[splitbrain.plugins]\nplug-egg = sb_plug_egg\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    assert "plug-egg" in plugins.load_entry_points(warn=lambda msg: None)
    plugins.load_plugin("sb_plug_egg")  # the user's --plugin
    assert plugins.loaded_plugins(system="plug-egg") == {"sb_plug_egg": str(tmp_path)}
