"""Every history of the reference corpus (tests/data/corpus: Porcupine's test data, MIT) gets the verdict that
expected.csv gives it, and the op count it states."""

import csv
from pathlib import Path

import pytest

from splitbrain.checkers.linearizable import check_linearizable
from splitbrain.history.importers import load_history

from tests._paths import CORPUS
ROWS = list(csv.DictReader(open(CORPUS / "expected.csv")))


def test_the_corpus_is_there_with_its_licence():
    assert len(ROWS) >= 50 and (CORPUS / "LICENSE-porcupine.md").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_corpus_verdict(row):
    history = load_history(CORPUS / row["file"])
    r = check_linearizable(history, row["model"], time_limit=30)
    assert r["valid"] is (row["linearizable"] == "true"), r
    assert r["ops"] == int(row["ops"])
    if r["valid"] is False:
        f = r["failure"]
        assert f["explanation"] and f["window"] and f["stuck_op"] in f["window"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["c10-ok", "c10-bad"])
def test_kv_corpus_without_the_split_agrees(name):
    row = next(r for r in ROWS if r["file"] == f"kv/{name}.txt")
    r = check_linearizable(load_history(CORPUS / row["file"]), "kv", split=False, time_limit=30)
    assert r["valid"] is (row["linearizable"] == "true") and r["partitions"] == 1
