"""pytest plugin (entry point ``pytest11: splitbrain``): run splitbrain tests inside pytest.

The ``splitbrain`` fixture runs one test and fails the pytest test when the verdict is not what it expects::

    def test_my_store_is_linearizable(splitbrain):
        splitbrain.run(system="quorum-kv", workload="register", nemesis=("partition",), time_limit=10, seed=1)

``run(spec=None, *, expect="valid", fail_on_unknown=None, **fields)`` takes a TestSpec or its fields and returns
the runner's RunOutcome. A ``false`` verdict fails the test (with ``expect="invalid"``: a ``true`` one does, for
tests that a seeded bug is found); an ``unknown`` verdict fails it too unless ``fail_on_unknown=False``,
``--splitbrain-allow-unknown`` or the ini option ``splitbrain_fail_on_unknown = false`` (then it warns). Every run
adds ``splitbrain_seed``, ``splitbrain_run_dir``, ``splitbrain_verdict`` and ``splitbrain_replay`` to the test's
user properties, which ``--junitxml`` writes as ``<property>`` elements; the failure message carries the run
directory, the seed and the command that replays the run exactly.

Runs go to ``--splitbrain-store`` / ini ``splitbrain_store`` / ``$SPLITBRAIN_STORE``, else to
``<pytest basetemp>/splitbrain-store``. Test names in the store are the pytest test's name.

Must not: import anything beyond pytest at import time (pytest loads this module in every session of every project
that installs splitbrain), or change anything for sessions that don't use the fixture.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

from splitbrain.harness.plugins import load_entry_points
from splitbrain.harness.run.spec import TestSpec, parse_nemesis
from splitbrain.history.verdict import Verdict


class SplitbrainUnknownVerdict(UserWarning):
    """A splitbrain run ended with an ``unknown`` verdict and unknown verdicts were allowed."""


def pytest_addoption(parser) -> None:
    group = parser.getgroup("splitbrain", "splitbrain: distributed-systems tests")
    group.addoption("--splitbrain-store", default=None, metavar="DIR",
                    help="Where splitbrain runs are stored [default: $SPLITBRAIN_STORE or <basetemp>/splitbrain-store]")
    group.addoption("--splitbrain-allow-unknown", action="store_true", default=False,
                    help="An 'unknown' verdict warns instead of failing the test.")
    parser.addini("splitbrain_store", "Where splitbrain runs are stored.", default="")
    parser.addini("splitbrain_fail_on_unknown", "Fail tests whose splitbrain verdict is 'unknown'.", type="bool",
                  default=True)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _test_name(nodename: str) -> str:
    name = _UNSAFE.sub("_", nodename).strip("._-")[:100]
    return name or "pytest"


def failure_message(outcome, spec, *, expected: str) -> str:
    """What a failing test says: the verdict against what was expected, each checker's verdict, the run
    directory, the seed, and how to reproduce it."""

    results = outcome.results
    lines = [f"splitbrain verdict: {Verdict.of(results.get('valid')).label} (expected {expected})"]
    for name, r in (results.get("results") or {}).items():
        why = r.get("explanation") or r.get("cause") or (r.get("failure") or {}).get("explanation") or ""
        lines.append(f"  {name}: {Verdict.of(r.get('valid')).label} {why}".rstrip())
    lines += [f"run dir: {outcome.run_dir}", f"seed:    {spec.seed}",
              f"report:  {outcome.run_dir / 'report.html'}",
              f"replay exactly (same seed and faults): splitbrain replay {outcome.run_dir}",
              f"or run again with the same seed:      {spec.command()}"]
    return "\n".join(lines)


class SplitbrainRunner:
    """What the ``splitbrain`` fixture gives a test. ``runner`` is ``splitbrain.harness.run.runner.run_test`` unless given."""

    def __init__(self, request, store_root, fail_on_unknown: bool, runner=None):
        self._request = request
        self.store_root = store_root
        self.fail_on_unknown = fail_on_unknown
        self._runner = runner

    def run(self, spec=None, *, expect: str = "valid", fail_on_unknown: bool | None = None,
            keep_cluster: bool = False, fault_schedule: list | None = None, **fields):

        if expect not in (Verdict.TRUE.word, Verdict.FALSE.word):
            raise ValueError(f"expect must be 'valid' or 'invalid', not {expect!r}")
        if spec is None:
            if "nemesis" in fields and isinstance(fields["nemesis"], str):
                fields["nemesis"] = parse_nemesis(fields["nemesis"])
            fields.setdefault("test_name", _test_name(self._request.node.name))
            spec = TestSpec(**fields)
        elif fields:
            raise TypeError("give a TestSpec or its fields, not both")
        load_entry_points(warn=lambda m: warnings.warn(m, stacklevel=2))
        runner = self._runner
        if runner is None:
            # here, not at the top: this plugin is loaded into every pytest session (entry point pytest11), and the
            # runner pulls in paramiko, the fault appliers and the checkers
            from splitbrain.harness.run.runner import run_test as runner
        props = self._request.node.user_properties
        props.append(("splitbrain_seed", spec.seed))
        props.append(("splitbrain_command", spec.command()))
        outcome = runner(spec, store_root=self.store_root, keep_cluster=keep_cluster, progress=False,
                         fault_schedule=fault_schedule)
        valid = outcome.results.get("valid")
        props.append(("splitbrain_run_dir", str(outcome.run_dir)))
        props.append(("splitbrain_verdict", Verdict.of(valid).word))
        props.append(("splitbrain_replay", f"splitbrain replay {outcome.run_dir}"))
        if fail_on_unknown is None:
            fail_on_unknown = self.fail_on_unknown
        if valid is not True and valid is not False:
            if fail_on_unknown:
                pytest.fail(failure_message(outcome, spec, expected=expect), pytrace=False)
            warnings.warn(SplitbrainUnknownVerdict(failure_message(outcome, spec, expected=expect)), stacklevel=2)
        elif (valid is True) != (expect == Verdict.TRUE.word):
            pytest.fail(failure_message(outcome, spec, expected=expect), pytrace=False)
        return outcome


@pytest.fixture
def splitbrain(request, tmp_path_factory) -> SplitbrainRunner:
    """Run splitbrain tests from a pytest test: ``splitbrain.run(system=..., workload=..., ...)``."""
    config = request.config

    if config.getoption("--splitbrain-store"):
        store_root = Path(config.getoption("--splitbrain-store")).absolute()
    elif config.getini("splitbrain_store"):  # relative to the ini file's directory, as pytest's own paths
        store_root = config.rootpath / config.getini("splitbrain_store")
    elif os.environ.get("SPLITBRAIN_STORE"):
        store_root = Path(os.environ["SPLITBRAIN_STORE"]).absolute()
    else:
        store_root = tmp_path_factory.getbasetemp() / "splitbrain-store"
    fail_on_unknown = (not config.getoption("--splitbrain-allow-unknown")
                       and config.getini("splitbrain_fail_on_unknown"))
    return SplitbrainRunner(request, store_root, fail_on_unknown)
