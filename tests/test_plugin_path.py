"""The plugin path on a server nobody here wrote (issue 14), through the real CLI with the test plugin
``tests/plugins/sb_probe_plugin.py``: start-up errors that name the node's logs (and recognise libfaketime's
failure), clock faults refused for a system without the clock shim, clients routed by the cluster view, ``ready()``
awaited and timed out, the answering node in the history and the report, fault targets, and replay of a plugin run
from another directory with no PYTHONPATH.

Every run is a subprocess of the installed ``splitbrain`` with a private store and state dir; whatever a failed
test leaves behind is cleaned up from that state dir (``isolated_state``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "tests" / "plugins"
SPLITBRAIN = str(Path(sys.executable).with_name("splitbrain"))
QUICK = ["--workload", "register", "--option", "cas=false", "--rate", "40", "--op-timeout", "0.5",
         "--recovery-time", "1", "--quiet"]


def _cli(args, *, store: Path, state: Path, cwd: Path = ROOT, pythonpath: bool = True, timeout: float = 90):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"SPLITBRAIN_STORE": str(store), "SPLITBRAIN_STATE_DIR": str(state)})
    if pythonpath:  # relative, as a user in the repository would type it
        env["PYTHONPATH"] = "tests/plugins"
    return subprocess.run([SPLITBRAIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _plugin(*args):
    return ["--plugin", "sb_probe_plugin", *args]


def _run_dir(stdout: str) -> Path:
    return Path(next(line.split(None, 1)[1] for line in stdout.splitlines() if line.startswith("run:")))


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]


def _only_primary_killed(run: Path) -> bool:
    """Some kill was applied, and every one hit n1 alone (probe-primary's primary)."""
    kills = [o for o in _history(run) if o["process"] == "nemesis" and o["f"] == "start-kill" and o["type"] == "ok"]
    return bool(kills) and all(o["value"]["killed"] == ["n1"] for o in kills)


# ------------------------------------------------------------------------------------------------- refused early


def test_clock_faults_are_refused_for_a_system_without_the_clock_shim(tmp_path, sb_state_dir):
    p = _cli(_plugin("run", "--system", "probe-noshim", "--nemesis", "partition,clock", "--time-limit", "2",
                     *QUICK), store=tmp_path / "store", state=sb_state_dir)
    assert p.returncode == 254, p.stderr
    assert "probe-noshim runs without the clock shim" in p.stderr and p.stderr.count("\n") == 1
    assert not (tmp_path / "store").exists()  # refused before anything started


@pytest.mark.parametrize("args,words", [
    (["--system", "probe-primary", "--nemesis", "clock", "--nemesis-targets", "leader"],
     "the clock fault can't be aimed at 'leader'"),
    (["--system", "probe-primary", "--nemesis", "kill", "--nemesis-targets", "leader"],
     "probe-primary can't say which nodes are its leader"),
    (["--system", "probe-noshim", "--nemesis", "kill", "--nemesis-targets", "primaries"],
     "can't say which nodes are its primaries"),
    (["--system", "probe-primary", "--nemesis", "kill", "--nemesis-targets", "most"], "unknown target 'most'"),
])
def test_targets_a_fault_or_system_cannot_take_are_refused(tmp_path, sb_state_dir, args, words):
    p = _cli(_plugin("run", *args, "--time-limit", "2", *QUICK), store=tmp_path / "store", state=sb_state_dir)
    assert p.returncode == 254 and words in p.stderr, p.stderr


def test_faults_command_lists_every_fault_with_its_targets():
    from splitbrain.nemesis import FAULTS
    p = subprocess.run([SPLITBRAIN, "faults"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    for name, pkg in FAULTS.items():
        assert f"{name}: " in p.stdout
    block = p.stdout.split("\nclock: ")[1].split("\n")
    assert block[1].strip() == "targets: one, minority, majority, all"
    assert "primaries" in p.stdout.split("targets:\n")[-1]


# ------------------------------------------------------------------------------------------------- start-up


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(60)
@pytest.mark.parametrize("system,shown,advice", [
    ("probe-silent", "probe node up, not listening", False),
    ("probe-faketime-hang", "libfaketime: Unexpected recursive calls", True),
])
def test_a_node_that_never_listens_is_reported_with_its_logs(tmp_path, isolated_state, system, shown, advice):
    p = _cli(_plugin("run", "--system", system, "--time-limit", "2", *QUICK), store=tmp_path / "store",
             state=isolated_state)
    assert p.returncode == 254, p.stderr
    err = p.stderr
    assert "n1" in err and "did not accept connections within 2 s" in err
    assert "nodes/n1/node.stdout.log" in err and "nodes/n1/node.stderr.log" in err
    assert shown in err  # the node's own last words
    run = next((tmp_path / "store").glob("*/2*"))
    assert f"(both are kept in {run / 'nodes' / 'n1'}/)" in err
    assert ("faketime = False" in err) is advice
    assert shown in (run / "nodes" / "n1" / "node.stdout.log").read_text()  # logs collected anyway


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(60)
def test_ready_that_never_comes_fails_the_run_before_any_load(tmp_path, isolated_state):
    p = _cli(_plugin("run", "--system", "probe-never-ready", "--time-limit", "2", *QUICK), store=tmp_path / "store",
             state=isolated_state)
    assert p.returncode == 255, p.stderr
    assert "did not become ready within 1.5 s (last answer: replicas not synced yet)" in p.stderr
    run = next((tmp_path / "store").glob("*/2*"))
    assert not (run / "history.jsonl").exists() or not _history(run)


# ------------------------------------------------------------------------------------------------- a routed run


@pytest.fixture(scope="module")
def routed_run(tmp_path_factory, root_iptables_unchanged):
    """One run of probe-primary: every client routed to n1 by the cluster view, ready() awaited, the kill aimed
    at the primaries. Its own state dir, cleaned up afterwards."""
    from splitbrain.harness.hosts.cleanup import cleanup
    from splitbrain.harness.hosts.resources import StateStore

    base = tmp_path_factory.mktemp("routed")
    state = base / "state"
    state.mkdir()
    try:
        p = _cli(_plugin("run", "--system", "probe-primary", "--nemesis", "kill", "--nemesis-targets", "primaries",
                         "--time-limit", "4", "--nemesis-interval", "2", "--nemesis-duration", "1", "--seed", "3",
                         *QUICK), store=base / "store", state=state)
        yield p, base, state
    finally:
        cleanup(StateStore(str(state)))


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(120)
def test_clients_route_by_the_cluster_view_and_name_the_node_that_answered(routed_run):
    p, _, _ = routed_run
    # One register per echo node, no replication: linearizable only if every client reached n1.
    assert p.returncode == 0, p.stdout + p.stderr
    run = _run_dir(p.stdout)
    completions = [o for o in _history(run) if o["process"] != "nemesis" and o["type"] != "invoke"]
    ok = [o for o in completions if o["type"] == "ok"]
    assert {o["node"] for o in ok} == {"n1", "n2", "n3"}  # bound to every node...
    assert all(o.get("answered_by", o["node"]) == "n1" for o in completions)  # ...answered by n1 alone
    assert any(o.get("answered_by") == "n1" and o["node"] == "n2" for o in ok)
    assert "n2\\u2192n1" in (run / "report.html").read_text() or "n2\u2192n1" in (run / "report.html").read_text()


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(120)
def test_ready_is_awaited_and_recorded(routed_run):
    p, _, _ = routed_run
    run = _run_dir(p.stdout)
    notes = [json.loads(line) for line in (run / "annotations.jsonl").read_text().splitlines()]
    ready = [n for n in notes if n["kind"] == "ready"]
    assert len(ready) == 1 and ready[0]["seconds"] >= 1.0  # probe-primary says ready only after 1 s
    assert "Load began once the system said it was ready" in (run / "report.html").read_text()


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(120)
def test_faults_aimed_at_the_primaries_hit_them(routed_run):
    p, _, _ = routed_run
    run = _run_dir(p.stdout)
    assert _only_primary_killed(run)


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(150)
def test_a_plugin_run_replays_from_another_directory(routed_run, tmp_path):
    p, base, state = routed_run
    run = _run_dir(p.stdout)
    test = json.loads((run / "test.json").read_text())
    assert test["plugins"] == ["sb_probe_plugin"] and test["plugin_paths"] == {"sb_probe_plugin": str(PLUGINS)}
    assert test["command"].startswith(f"PYTHONPATH={PLUGINS} splitbrain --plugin sb_probe_plugin run ")
    assert "--nemesis-targets primaries" in test["command"] and "--option cas=false" in test["command"]
    r = _cli(["replay", str(run), "--quiet"], store=base / "store", state=state, cwd=tmp_path, pythonpath=False)
    assert r.returncode == 0, r.stdout + r.stderr
    again = _run_dir(r.stdout)
    assert json.loads((again / "test.json").read_text())["plugins"] == ["sb_probe_plugin"]
    assert _only_primary_killed(again)


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(120)
def test_targets_on_five_nodes_hit_as_many_nodes_as_named(tmp_path, isolated_state):
    p = _cli(_plugin("run", "--system", "probe-primary", "--nodes", "5", "--nemesis", "partition,pause",
                     "--nemesis-targets", "majority", "--time-limit", "3.5", "--nemesis-interval", "1",
                     "--nemesis-duration", "0.5", "--seed", "2", *QUICK),
             store=tmp_path / "store", state=isolated_state)
    assert p.returncode == 0, p.stdout + p.stderr
    ops = [o for o in _history(_run_dir(p.stdout)) if o["process"] == "nemesis"]
    parts = [o["value"] for o in ops if o["f"] == "start-partition" and o["type"] == "invoke"]
    pauses = [o["value"] for o in ops if o["f"] == "start-pause" and o["type"] == "ok"]
    assert parts and pauses
    for v in parts:  # three nodes cut off from the other two, both ways
        assert v["shape"] == "cut-off" and len(v["nodes"]) == 3
        assert {n: sorted(g) for n, g in v["grudge"].items()} == {
            n: sorted(set(["n1", "n2", "n3", "n4", "n5"]) - set(v["nodes"])) if n in v["nodes"] else v["nodes"]
            for n in ["n1", "n2", "n3", "n4", "n5"]}
    assert all(len(v["paused"]) == 3 for v in pauses)


# ------------------------------------------------------------------------------------------------- report bits


def test_a_leader_without_a_term_shows_no_term_and_the_answering_node_is_shown():
    from splitbrain.history.ops import Op
    from splitbrain.reports.timeline import timeline_data

    ops = [Op(0, 1000, 0, "invoke", "write", 1, "n2", "r"), Op(1, 2000, 0, "ok", "write", 1, "n2", "r", None, "n1")]
    data = timeline_data(ops, [{"time": 1500, "kind": "leader", "node": "n1", "term": None},
                               {"time": 0, "kind": "ready", "seconds": 1.2}], concurrency=1)
    assert [(x["node"], x["term"]) for x in data["leaders"]] == [("n1", "")]  # the ready note is no leader
    assert "n2\u2192n1" in data["str"]


def test_a_suite_loads_a_plugin_from_a_path_relative_to_the_suite_file(tmp_path, monkeypatch):
    """plugin_paths: the suite finds its plugin wherever it is started from, with no PYTHONPATH."""
    from splitbrain.harness import plugins, systems
    from splitbrain.harness.ci.suite import load_suite

    saved = dict(systems._SYSTEMS), set(plugins._loaded), dict(plugins._modules), list(sys.path)
    suite_dir = tmp_path / "suites"
    suite_dir.mkdir()
    rel = os.path.relpath(PLUGINS, suite_dir)
    (suite_dir / "s.toml").write_text(
        f'plugins = ["sb_probe_plugin"]\nplugin_paths = {{ sb_probe_plugin = "{rel}" }}\n'
        '[[matrix]]\nsystem = "probe-primary"\nworkload = "register"\nfaults = ["kill"]\nseeds = [1]\n')
    monkeypatch.chdir(tmp_path)
    try:
        suite = load_suite(suite_dir / "s.toml")
        assert [c.system for c in suite.cells] == ["probe-primary"]
        assert plugins.loaded_plugins()["sb_probe_plugin"] == str(PLUGINS)
    finally:
        systems._SYSTEMS.clear(), systems._SYSTEMS.update(saved[0])
        plugins._loaded.clear(), plugins._loaded.update(saved[1])
        plugins._modules.clear(), plugins._modules.update(saved[2])
        sys.path[:] = saved[3]
        sys.modules.pop("sb_probe_plugin", None)


@pytest.mark.e2e
@pytest.mark.netns
@pytest.mark.timeout(120)
def test_a_client_that_blocks_the_event_loop_is_named_in_the_warning_the_annotations_and_the_report(tmp_path,
                                                                                                    isolated_state):
    p = _cli(_plugin("run", "--system", "probe-blocking", "--time-limit", "5", "--concurrency", "1",
                     "--option", "block=2.5", *QUICK), store=tmp_path / "store", state=isolated_state)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "event loop has been blocked" in p.stderr and "in invoke" in p.stderr
    run = _run_dir(p.stdout)
    stalls = [a for a in map(json.loads, (run / "annotations.jsonl").read_text().splitlines())
              if a["kind"] == "loop-stall"]
    assert len(stalls) == 1 and 2.0 <= stalls[0]["seconds"] <= 10, stalls
    assert stalls[0]["where"].startswith("sb_probe_plugin.py:") and "in invoke" in stalls[0]["where"]
    report = (run / "report.html").read_text()
    assert "event loop was blocked 1 time (longest" in report and "sb_probe_plugin.py:" in report
