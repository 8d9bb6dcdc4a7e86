"""raft-kv's WAL check: SQLite silently drops every WAL frame from a damaged one on (committed transactions), so
the correct variant checks the WAL itself before opening it. Judged against SQLite: every flipped bit that makes
SQLite lose rows is found, a WAL that SQLite wrote and a kill left is never called damaged, and the storage
refuses to start on either kind of damage (and on a damaged term/vote)."""

from __future__ import annotations

import random
import shutil
import sqlite3

import pytest

from splitbrain.systems_under_test.raft_kv.storage import CorruptLog, Storage
from splitbrain.systems_under_test.raft_kv.walcheck import damage


def _db_with_wal(d, rows: int = 120, checkpoint_at: int | None = None):
    db = sqlite3.connect(d / "t.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t (a TEXT)")
    for i in range(rows):
        if i == checkpoint_at:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the next writer starts the WAL over: stale frames after
        db.execute("INSERT INTO t VALUES (?)", (f"value {i} " * 10,))
    return db  # left open, as a killed process leaves it


def _rows_sqlite_sees(tmp, db_bytes: bytes, wal_bytes: bytes) -> int | str:
    e = tmp / "copy"
    shutil.rmtree(e, ignore_errors=True)
    e.mkdir()
    (e / "t.db").write_bytes(db_bytes)
    (e / "t.db-wal").write_bytes(wal_bytes)
    try:
        c = sqlite3.connect(e / "t.db")
        try:
            return c.execute("SELECT count(*) FROM t").fetchone()[0]
        finally:
            c.close()
    except sqlite3.DatabaseError:
        return "error"


@pytest.mark.parametrize("checkpoint_at", [None, 100])
def test_every_flip_that_loses_rows_is_found_and_a_sound_wal_is_not_flagged(tmp_path, checkpoint_at):
    db = _db_with_wal(tmp_path, checkpoint_at=checkpoint_at)
    try:
        main, wal = (tmp_path / "t.db").read_bytes(), (tmp_path / "t.db-wal").read_bytes()
        assert damage(str(tmp_path / "t.db-wal")) is None
        full = _rows_sqlite_sees(tmp_path, main, wal)
        assert full == 120
        lost = 0
        for seed in range(60):
            rng = random.Random(seed)
            b = bytearray(wal)
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            (tmp_path / "x-wal").write_bytes(b)
            seen = _rows_sqlite_sees(tmp_path, main, bytes(b))
            if seen != full:
                lost += 1
                assert damage(str(tmp_path / "x-wal")) is not None, seed
        assert lost > 0  # the flips did reach data SQLite reads
        (tmp_path / "x-wal").write_bytes(wal[:-100])
        assert "cut" in damage(str(tmp_path / "x-wal"))
    finally:
        db.close()


def test_storage_refuses_a_damaged_wal_or_vote(tmp_path):
    s = Storage(str(tmp_path))
    s.write({"hard": (3, "n2"), "snapshot": None, "truncate_from": None,
             "entries": [(1, 3, {"op": "add", "value": 12345})]})
    wal = tmp_path / "raft.sqlite3-wal"
    data = bytearray(wal.read_bytes())
    at = data.index(b"12345")
    data[at] ^= 1  # '1' -> '0': still a number, still JSON
    wal.write_bytes(data)
    with pytest.raises(CorruptLog, match="WAL frame"):
        Storage(str(tmp_path))
    data[at] ^= 1
    wal.write_bytes(data)
    s.close()
    s = Storage(str(tmp_path))
    assert s.load()[:2] == (3, "n2")
    s.db.execute("UPDATE meta SET v = '\"n3\"' WHERE k = 'voted_for'")  # as a flipped digit would leave it
    s.close()
    with pytest.raises(CorruptLog, match="term and vote"):
        Storage(str(tmp_path)).load()
