"""Durable Raft state in one SQLite file: current term and vote, the log, and the latest snapshot.

Why SQLite rather than an append-only file with fsync: a Raft write is often several changes that must land
together (truncate a conflicting suffix, append the leader's entries, move the term; or install a snapshot and
drop the log below it). A SQLite transaction makes that atomic and survives a torn write at a crash, which an
append-only file would need its own framing, checksums, truncation and compaction rewrite for. The cost measured
on this project's machines: one WAL commit with ``synchronous=FULL`` (an fsync) is ~0.3 ms, the same as a bare
``fsync`` of an appended file, and the server batches many entries per commit anyway.

Contract: ``write(batch)`` returns only after the batch is on disk (the WAL is fsynced at commit), so the caller
may then send the replies that depend on it. A batch is what ``RaftCore.take_persist`` returns. ``load()``
returns exactly what the last completed ``write`` left, never a partial batch.

Every entry and the snapshot carry a CRC-32 of (index, term, text), and the term and vote one of theirs, checked by
``load`` (CorruptLog on a mismatch: the server refuses to start rather than serve a damaged entry); a damaged WAL
(:mod:`.walcheck`: SQLite would silently drop what follows the damage) is refused the same way; ``checksum=False``
is the ``no-checksum`` variant (no CRCs, and SQLite's rollback journal instead of its checksummed WAL).
``fsync=False`` is the ``no-fsync`` variant: SQLite never fsyncs, so ``write`` returns before the batch is durable
(a process kill loses nothing, the kernel has it; a power loss does). ``persist_vote=False`` is the
``volatile-vote`` variant: term and vote are kept only in memory, and after a restart the term is taken from the
last log entry and the vote is forgotten, so a node can vote twice in one term.
Writes are synchronous on the server's event loop on purpose (no worker thread: under libfaketime thread
hand-offs stall), which also keeps "persist, then send" trivially ordered.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from typing import Any

from . import walcheck
from .core import Log


class CorruptLog(Exception):
    """An entry or the snapshot does not match its checksum: the data dir was damaged."""


def entry_crc(idx: int, term: int, cmd: str) -> int:
    return zlib.crc32(f"{idx}:{term}:{cmd}".encode())


def _hard_crc(term: str | None, voted_for: str | None) -> int:
    return zlib.crc32(f"{term}:{voted_for}".encode())


def _parse(text: str, what: str) -> Any:
    """JSON stored by ``write``; only a damaged file holds anything else (found by the CRC first, unless the
    no-checksum variant skipped it: then this is a crash, not a clean refusal)."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise RuntimeError(f"{what} is not the JSON that was written: {e}") from None


class Storage:
    def __init__(self, data_dir: str, persist_vote: bool = True, fsync: bool = True, checksum: bool = True):
        os.makedirs(data_dir, exist_ok=True)
        self.persist_vote = persist_vote
        self.checksum = checksum
        if checksum:
            # SQLite would silently drop every WAL frame from a damaged one on: committed entries and the vote.
            why = walcheck.check(data_dir)
            if why:
                raise CorruptLog(why)
        self.db = sqlite3.connect(os.path.join(data_dir, "raft.sqlite3"), isolation_level=None)
        # WAL frames carry checksums (a damaged frame ends the log there, it is never read as data, and walcheck
        # refuses to start rather than lose what followed); the
        # no-checksum variant keeps SQLite's rollback journal instead, whose database pages have none, and writes
        # no per-entry checksum: a flipped bit in an entry is loaded as that entry.
        self.db.execute("PRAGMA journal_mode=WAL" if checksum else "PRAGMA journal_mode=DELETE")
        # fsync the WAL at every commit; OFF (the no-fsync variant) leaves it to the OS: a commit returns before its
        # bytes are durable, and a power loss takes acknowledged entries (and votes) with it.
        self.db.execute("PRAGMA synchronous=FULL" if fsync else "PRAGMA synchronous=OFF")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
            CREATE TABLE IF NOT EXISTS log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, cmd TEXT NOT NULL,
                                            crc INTEGER);
            CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL,
                                                 term INTEGER NOT NULL, data TEXT NOT NULL, crc INTEGER);
        """)
        self.commits = 0

    def load(self) -> tuple[int, str | None, Log, Any]:
        """(term, voted_for, log, snapshot data) as last written."""
        row = self.db.execute("SELECT idx, term, data, crc FROM snapshot WHERE id = 1").fetchone()
        if row and self.checksum and row[3] != entry_crc(row[0], row[1], row[2]):
            raise CorruptLog(f"the snapshot at index {row[0]} does not match its checksum")
        snap_index, snap_term, snap_data = (row[0], row[1], _parse(row[2], "the snapshot")) if row else (0, 0, None)
        entries = []
        for i, t, c, crc in self.db.execute("SELECT idx, term, cmd, crc FROM log WHERE idx > ? ORDER BY idx",
                                            (snap_index,)):
            if self.checksum and crc != entry_crc(i, t, c):
                raise CorruptLog(f"log entry {i} does not match its checksum")
            entries.append([t, _parse(c, f"log entry {i}")])
        log = Log(snap_index, snap_term, entries)
        if self.persist_vote:
            meta = dict(self.db.execute("SELECT k, v FROM meta"))
            crc = str(_hard_crc(meta.get("term"), meta.get("voted_for")))
            if self.checksum and "crc" in meta and meta["crc"] != crc:
                raise CorruptLog("the term and vote do not match their checksum")
            term = json.loads(meta.get("term", "0"))
            voted_for = json.loads(meta.get("voted_for", "null"))
        else:
            term, voted_for = log.last_term, None  # the volatile-vote bug: the vote is forgotten
        return term, voted_for, log, snap_data

    def write(self, batch: dict) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            if batch["hard"] is not None and self.persist_vote:
                term, voted_for = batch["hard"]
                hard = [("term", json.dumps(term)), ("voted_for", json.dumps(voted_for))]
                if self.checksum:
                    hard.append(("crc", str(_hard_crc(hard[0][1], hard[1][1]))))
                db.executemany("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", hard)
            if batch["snapshot"] is not None:
                idx, term, data = batch["snapshot"]
                text = json.dumps(data)
                db.execute("INSERT OR REPLACE INTO snapshot (id, idx, term, data, crc) VALUES (1, ?, ?, ?, ?)",
                           (idx, term, text, entry_crc(idx, term, text) if self.checksum else None))
                db.execute("DELETE FROM log WHERE idx <= ?", (idx,))
            if batch["truncate_from"] is not None:
                db.execute("DELETE FROM log WHERE idx >= ?", (batch["truncate_from"],))
            if batch["entries"]:
                rows = [(i, t, json.dumps(c)) for i, t, c in batch["entries"]]
                db.executemany("INSERT OR REPLACE INTO log (idx, term, cmd, crc) VALUES (?, ?, ?, ?)",
                               [(i, t, c, entry_crc(i, t, c) if self.checksum else None) for i, t, c in rows])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.commits += 1

    def close(self) -> None:
        self.db.close()
