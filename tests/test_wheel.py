"""The built wheel, installed into a fresh virtualenv: it puts only ``splitbrain`` at the top of site-packages, and
the console script, the pytest plugin and a plugin written against ``splitbrain.api`` work from there.

No network: the wheel is built without build isolation (the venv's setuptools, see .ci/setup) and installed with
``--no-deps``; the fresh venv sees the dependencies (click, rich, pytest, ...) through a .pth file naming this
venv's site-packages. A .pth line only adds a path (the .pth files inside it, such as the editable install's
finder, are not run), so ``splitbrain`` can only come from the wheel."""

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "splitbrain", "harness", "nemesis", "checkers",
           "reports", "systems_under_test"]

PLUGIN = '''
"""A plugin written against the stable API only."""
from splitbrain.api import Client, Completion, Invocation, System, register_system


class NoopClient(Client):
    async def open(self, node, timeout):
        pass

    async def invoke(self, invocation: Invocation, timeout: float) -> Completion:
        return Completion("ok")

    async def close(self):
        pass


class Mine(System):
    name = "mine"
    description = "a system from a plugin that only knows splitbrain.api"
    variants = {"correct": ""}
    workloads = ("register",)
    package = "mymod"

    def node_command(self, python, config_path):
        return [python, "-m", "mymod", "--config", config_path]

    def client(self, variant, options):
        return NoopClient()


register_system("mine", "mymod:Mine")
'''

PYTEST_CHECK = '''
import sys

def test_plugin_comes_from_the_wheel(splitbrain):
    mod = sys.modules["splitbrain.harness.ci.pytest_plugin"]
    assert mod.__file__.startswith(sys.prefix), mod.__file__
    assert callable(splitbrain.run)
'''


def _run(argv, cwd, env, timeout=60):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:  # a copy, so the build leaves nothing (build/, *.egg-info) in the repository
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_NO_INDEX"] = "1"
    b = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
              str(tmp / "dist"), str(src)], cwd=tmp, env=env, timeout=120)
    assert b.returncode == 0, b.stdout + b.stderr
    wheels = list((tmp / "dist").glob("splitbrain-*.whl"))
    assert len(wheels) == 1, wheels

    venv = tmp / "venv"
    v = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env)
    assert v.returncode == 0, v.stderr
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp, env=env).stdout.strip())
    i = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheels[0])],
             cwd=tmp, env=env, timeout=120)
    assert i.returncode == 0, i.stdout + i.stderr
    top = sorted(p.name for p in site.iterdir())
    (site / "_deps_from_test_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return {"tmp": tmp, "venv": venv, "py": py, "site": site, "top": top, "env": env}


@pytest.mark.timeout(180)
def test_only_splitbrain_at_the_top_of_site_packages(wheel_venv):
    assert wheel_venv["top"] == ["splitbrain", "splitbrain-0.1.0.dist-info"]
    pkg = wheel_venv["site"] / "splitbrain"
    for sub in ("harness", "nemesis", "checkers", "reports", "systems_under_test", "history"):
        assert (pkg / sub / "__init__.py").is_file(), sub
    for sub in ("commands", "hosts", "run", "ci", "testing"):   # the controller's sub-packages
        assert (pkg / "harness" / sub / "__init__.py").is_file(), sub
    # package data travels with the code
    assert (pkg / "harness" / "ci" / "suite.html.j2").is_file()
    assert any((pkg / "reports" / "templates").glob("*.j2"))


@pytest.mark.timeout(180)
def test_console_script_runs_from_the_wheel(wheel_venv):
    exe, tmp, env = str(wheel_venv["venv"] / "bin" / "splitbrain"), wheel_venv["tmp"], wheel_venv["env"]
    h = _run([exe, "--help"], cwd=tmp, env=env)
    assert h.returncode == 0 and "Usage" in h.stdout, h.stderr
    s = _run([exe, "systems"], cwd=tmp, env=env)
    assert s.returncode == 0 and "quorum-kv" in s.stdout, s.stderr
    # a report needs the templates and static files: package data in the wheel
    out = tmp / "imported"
    a = _run([exe, "analyze", str(ROOT / "tests" / "data" / "r1w1-partition-102ops.jsonl"), "--model", "cas-register",
              "--out", str(out)], cwd=tmp, env=env)
    assert a.returncode in (0, 1, 2), a.stdout + a.stderr
    assert "<html" in (out / "report.html").read_text()
    where = _run([str(wheel_venv["py"]), "-c", "import splitbrain.harness.commands.main as m; print(m.__file__)"],
                 cwd=tmp, env=env)
    assert where.stdout.startswith(str(wheel_venv["site"])), where.stdout + where.stderr


@pytest.mark.timeout(180)
def test_a_plugin_written_against_splitbrain_api(wheel_venv):
    tmp, env = wheel_venv["tmp"], dict(wheel_venv["env"])
    plug = tmp / "plug"
    plug.mkdir(exist_ok=True)
    (plug / "mymod.py").write_text(textwrap.dedent(PLUGIN))
    env["PYTHONPATH"] = str(plug)
    s = _run([str(wheel_venv["venv"] / "bin" / "splitbrain"), "--plugin", "mymod", "systems"], cwd=tmp, env=env)
    assert s.returncode == 0, s.stderr
    assert "mine: a system from a plugin that only knows splitbrain.api" in s.stdout


@pytest.mark.timeout(180)
def test_pytest_plugin_loads_from_the_wheel(wheel_venv):
    tmp = wheel_venv["tmp"]
    proj = tmp / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "test_it.py").write_text(textwrap.dedent(PYTEST_CHECK))
    r = _run([str(wheel_venv["py"]), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(proj),
              str(proj / "test_it.py")], cwd=proj, env=wheel_venv["env"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout
