"""The importers' fast paths give exactly what edn_format gives, and hand anything unusual to edn_format."""

import edn_format
import pytest

from splitbrain.history import importers
from splitbrain.history.importers import _SIMPLE_VALUE, _fast_edn_map, _fast_value, from_edn, load_history

SIMPLE_LINES = [
    '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}',
    '{:process 12, :type :ok, :f :get, :key "7", :value ""}',
    '{:process :nemesis, :type :info, :f :start, :value nil}',
    '{:type :ok :process 3 :f :cas :value [1 -4]}',
    '{:process 1, :type :invoke, :f :read, :value nil, :time 123456}',
    '{}',
]
UNUSUAL_LINES = [
    '{:process 0, :type :ok, :f :get, :key "a", :value "quote \\" inside"}',
    '{:process 0, :type :ok, :f :read, :value 1.5}',
    '{:process 0, :type :ok, :f :read, :value #{1 2}}',
    '{:process 0, :type :ok, :f :txn, :value [[:r 1 nil] [:w 1 2]]}',
    '{:process 0, :type :ok, :f :read, :value {:a 1}}',
    '{:process 0, :type :ok, :f :read, :value :ns/kw}',
    '{:process 0, :type :ok, :f :read, :value true}',
    '{:process 0 :process 1, :type :ok, :f :read}',
]


@pytest.mark.parametrize("text", SIMPLE_LINES)
def test_fast_edn_map_matches_edn_format(text):
    assert _fast_edn_map(text) == from_edn(edn_format.loads(text))


@pytest.mark.parametrize("text", UNUSUAL_LINES)
def test_unusual_lines_fall_back(text):
    assert _fast_edn_map(text) is None


@pytest.mark.parametrize("text", ["nil", "3", "-12", ":timed-out", "[1 2]", "[nil 4]", '"s p"', "[]"])
def test_fast_log_values_match_edn_format(text):
    assert _SIMPLE_VALUE.fullmatch(text)
    assert _fast_value(text) == from_edn(edn_format.loads(text))


@pytest.mark.parametrize("text", ["1.5", '"a\\"b"', "#{1}", "[[1] 2]", "{:a 1}", "true"])
def test_unusual_log_values_are_not_fast(text):
    assert not _SIMPLE_VALUE.fullmatch(text)


def test_whole_files_read_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch):
    edn = tmp_path / "h.edn"
    edn.write_text("\n".join([
        '{:process 0, :type :invoke, :f :write, :value 1.5}',
        '{:process 0, :type :ok, :f :write, :value 1.5}',
        '{:process 1, :type :invoke, :f :read, :key "k", :value nil}',
        '{:process 1, :type :ok, :f :read, :key "k", :value "v \\" w"}',
    ]) + "\n")
    log = tmp_path / "h.log"
    log.write_text("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n"
                   "INFO  jepsen.util - 0\t:info\t:cas\t:timed-out\n"
                   "INFO  jepsen.util - 1   :invoke :write  #{3}\n"
                   "INFO  jepsen.util - 1   :ok :write  #{3}\n")
    fast = [load_history(edn), load_history(log)]

    class Never:
        def fullmatch(self, text):
            return None

    monkeypatch.setattr(importers, "_fast_edn_map", lambda text: None)
    monkeypatch.setattr(importers, "_SIMPLE_VALUE", Never())
    assert [load_history(edn), load_history(log)] == fast
    assert fast[0][3].value == 'v " w' and fast[1][1].error == "timed-out" and fast[1][2].value == [3]
