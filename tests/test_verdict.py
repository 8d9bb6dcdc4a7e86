"""Verdict: the one place for how verdicts combine, their words and exit codes; the JSON form is unchanged."""

import json

import pytest

from splitbrain.history.errors import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID
from splitbrain.history.verdict import UNKNOWN, Verdict


@pytest.mark.parametrize("value,verdict", [
    (True, Verdict.TRUE), (False, Verdict.FALSE), ("unknown", Verdict.UNKNOWN),
    (None, Verdict.UNKNOWN), (1, Verdict.UNKNOWN), (0, Verdict.UNKNOWN), ("true", Verdict.UNKNOWN),
    ({"valid": True}, Verdict.UNKNOWN), (Verdict.FALSE, Verdict.FALSE),
])
def test_only_exact_booleans_are_definite(value, verdict):
    assert Verdict.of(value) is verdict


@pytest.mark.parametrize("values,combined", [
    ([], Verdict.TRUE), ([True, True], Verdict.TRUE), ([True, "unknown"], Verdict.UNKNOWN),
    (["unknown", False, True], Verdict.FALSE), ([True, None], Verdict.UNKNOWN), ([True, "error"], Verdict.UNKNOWN),
])
def test_combine_any_false_then_any_unknown(values, combined):
    assert Verdict.combine(values) is combined


def test_json_words_and_exit_codes():
    assert [v.json for v in Verdict] == [True, False, UNKNOWN]
    assert json.dumps({"valid": Verdict.UNKNOWN.json}) == '{"valid": "unknown"}'
    assert [v.word for v in Verdict] == ["valid", "invalid", "unknown"]
    assert [v.label for v in Verdict] == ["valid", "INVALID", "unknown"]
    assert [v.exit_code for v in Verdict] == [EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN] == [0, 1, 2]
    assert all(Verdict.of(v.json) is v for v in Verdict)
