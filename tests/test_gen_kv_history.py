"""bench/gen_kv_history.py: its histories are linearizable, ``--bad`` makes exactly one key not, and both formats
read to the same ops."""

import importlib.util
from pathlib import Path

import pytest

from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.history.importers import load_history

_spec = importlib.util.spec_from_file_location(
    "gen_kv_history", Path(__file__).resolve().parent.parent / "bench" / "gen_kv_history.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def _write(tmp_path, name, *args):
    p = tmp_path / name
    assert gen.main([str(p), "--ops", "600", "--keys", "5", "--clients", "20", *args]) == 0
    return p


@pytest.mark.timeout(120)
def test_generated_histories_are_linearizable_until_corrupted(tmp_path):
    ok = load_history(_write(tmp_path, "ok.jsonl"))
    assert len(ok) == 1200 and len({op.process for op in ok}) == 20
    assert load_history(_write(tmp_path, "ok.edn", "--format", "edn")) == [
        op.__class__(op.index, op.index, op.process, op.type, op.f, op.value, op.node, op.key, op.error) for op in ok]
    assert check_linearizable(ok, "kv", time_limit=60)["valid"] is True
    bad_ops = load_history(_write(tmp_path, "bad.edn", "--format", "edn", "--bad"))
    verdicts = {key: check_linearizable([op for op in bad_ops if op.key == key], "kv", time_limit=60)
                for key in sorted({op.key for op in bad_ops})}
    failing = [k for k, r in verdicts.items() if r["valid"] is not True]
    assert len(verdicts) == 5 and len(failing) == 1
    assert verdicts[failing[0]]["valid"] is False and "never written" in verdicts[failing[0]]["failure"]["explanation"]
