"""A replica's durable state: an in-memory map of records backed by a write-ahead log and a snapshot.

Why write-ahead with fsync before acknowledging: a quorum write is acknowledged once W replicas said "stored",
and that is a promise that any later read quorum meets a replica holding it. A replica that acknowledged from
memory (or from Python's user-space file buffer) loses the record on kill -9; after that happens on enough
replicas of the write quorum, a read quorum can hold no copy and an acknowledged write is gone: a real
linearizability violation, caused by the store, not by the faults. Handing the bytes to the kernel (flush) is
enough to survive kill -9 of the process; fsync also survives a crash of the kernel or machine (power loss, VM
kill), which is what "durable" means. So ``put`` appends the record to ``wal.jsonl``, flushes, fsyncs, and only then
merges it into memory and returns. Peers and clients only ever see durable state, which is also what lets a read
skip its write-back when the replies show the newest record already sits on W replicas.

Group commit: puts queue up; one flusher task yields once (so every put of the current event-loop iteration joins),
then writes everything queued with one write and one fsync, resolves those puts, and repeats while more arrived.
The fsync runs on the event loop thread on purpose. An fsync worker thread was tried and measured: under
libfaketime (every node runs under it) with ``FAKETIME_NO_CACHE``, handing results back from a thread stalled
requests by 0.25 s to over a second (probably the interpreter's timed waits, e.g. the GIL's, going through
libfaketime), so writes timed out while the same code without libfaketime was fast. A loop blocked for one fsync
per batch costs some throughput; stalls turn into client timeouts, i.e. unknown outcomes that weaken every check.

Files in the data dir: ``wal.jsonl`` (one ``{"t": kind, "k": key, "r": record}`` per line) and ``snapshot.json``
(``{"records": [[kind, key, record], ...]}``, written to a temp file, fsynced and renamed). Recovery = snapshot,
then replay the log, merging; since merges are idempotent, a crash between writing a snapshot and truncating the
log only replays records twice. A torn last log line (a crash mid-append; never acknowledged, since the fsync had
not returned) is dropped and cut off the file; a malformed line anywhere else means corruption: StorageError.

If a write or fsync fails, the store refuses all further puts (StorageError): after a failed fsync the kernel may
have dropped the dirty pages, so pretending later writes are durable would be a lie.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

from . import records

log = logging.getLogger(__name__)

WAL = "wal.jsonl"
SNAPSHOT = "snapshot.json"


class StorageError(Exception):
    """The on-disk state is unusable (corrupt on start, or a failed write/fsync since)."""


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """The durable record map of one replica. Single-threaded: use it from the event loop only.

    ``get`` returns only records whose log entry is already fsynced. ``put`` merges (never overwrites), so the
    result of any sequence of puts does not depend on their order.
    """

    def __init__(self, data_dir: str, compact_after: int = 50_000, fsync: bool = True):
        self.data_dir = data_dir
        #: False is the no-fsync variant: puts are acknowledged once written to the OS, not once durable.
        self.fsync = fsync
        self.compact_after = compact_after
        self._state: dict[tuple[str, str], tuple[object, dict]] = {}  # (kind, canonical key) -> (key, record)
        self._pending: list[tuple[str, str, object, dict, asyncio.Future]] = []
        self._flusher: asyncio.Future | None = None
        self._failed: BaseException | None = None
        self._log_records = 0
        os.makedirs(data_dir, exist_ok=True)
        self._recover()
        self._wal = open(os.path.join(data_dir, WAL), "ab")
        if fsync:
            _fsync_dir(data_dir)  # the log file's directory entry must be durable too

    # ---------------------------------------------------------------------------------------------- reading

    def get(self, kind: str, key) -> dict | None:
        entry = self._state.get((kind, records.canonical(key)))
        return entry[1] if entry else None

    def __len__(self) -> int:
        return len(self._state)

    # ---------------------------------------------------------------------------------------------- writing

    async def put(self, kind: str, key, rec: dict) -> dict:
        """Durably merge ``rec`` into the record of (kind, key); return the merged record. ``rec`` must be
        validated already. Raises StorageError if the store can no longer write."""
        if self._failed is not None:
            raise StorageError(f"storage failed earlier: {self._failed}")
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((kind, records.canonical(key), key, rec, fut))
        if self._flusher is None:
            self._flusher = asyncio.ensure_future(self._flush_loop())
        # shield: a cancelled caller must not cancel the flush others wait on; its record is written regardless
        return await asyncio.shield(fut)

    async def _flush_loop(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # let the puts of this loop iteration join the batch
                batch, self._pending = self._pending, []
                self._flush(batch)
        finally:
            self._flusher = None

    def _flush(self, batch: list) -> None:
        data = b"".join((json.dumps({"t": kind, "k": key, "r": rec}, separators=(",", ":"),
                                    ensure_ascii=False) + "\n").encode() for kind, _, key, rec, _ in batch)
        try:
            if self._failed is not None:
                raise StorageError(f"storage failed earlier: {self._failed}")
            self._wal.write(data)
            self._wal.flush()
            if self.fsync:
                os.fsync(self._wal.fileno())
        except Exception as e:  # noqa: BLE001 - any failure here means nothing in the batch is durable
            self._failed = self._failed or e
            log.error("write-ahead log write failed, refusing further writes: %s", e)
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(StorageError(str(e)))
            return
        self._log_records += len(batch)
        for kind, ckey, key, rec, fut in batch:
            merged = self._apply(kind, ckey, key, rec)
            if not fut.done():
                fut.set_result(merged)
        if self._log_records >= self.compact_after:
            self._compact()

    def _apply(self, kind: str, ckey: str, key, rec: dict) -> dict:
        old = self._state.get((kind, ckey))
        merged = records.merge(kind, old[1] if old else None, rec)
        self._state[(kind, ckey)] = (key, merged)
        return merged

    # ---------------------------------------------------------------------------------------------- compaction

    def _compact(self) -> None:
        """Write the whole state as a snapshot (atomically) and empty the log. Safe to crash anywhere in here."""
        snap = os.path.join(self.data_dir, SNAPSHOT)
        tmp = snap + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"records": [[k, key, rec] for (k, _), (key, rec) in self._state.items()]}, f,
                          separators=(",", ":"), ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, snap)
            _fsync_dir(self.data_dir)
            self._wal.truncate(0)
            os.fsync(self._wal.fileno())
            self._log_records = 0
        except OSError as e:
            # The log still holds everything (truncation is the last step), so this is not data loss; but the
            # log keeps growing, so say it.
            log.error("snapshot failed, keeping the log: %s", e)

    # ---------------------------------------------------------------------------------------------- recovery

    def _recover(self) -> None:
        snap = os.path.join(self.data_dir, SNAPSHOT)
        if os.path.exists(snap):
            try:
                with open(snap, encoding="utf-8") as f:
                    items = json.load(f)["records"]
                for kind, key, rec in items:
                    self._apply(kind, records.canonical(key), key, records.validate(kind, rec))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise StorageError(f"{snap}: unreadable snapshot: {e}") from e
        path = os.path.join(self.data_dir, WAL)
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            data = f.read()
        good_end = 0
        pos = 0
        lineno = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            lineno += 1
            line = data[pos:] if nl < 0 else data[pos:nl]
            try:
                if nl < 0:
                    raise ValueError("no newline: torn write")
                entry = json.loads(line)
                kind, key = entry["t"], entry["k"]
                rec = records.validate(kind, entry["r"])
            except (ValueError, KeyError, TypeError) as e:
                if nl < 0 or nl == len(data) - 1:
                    log.warning("%s:%d: dropping a torn last record (%s)", path, lineno, e)
                    break
                raise StorageError(f"{path}:{lineno}: corrupt log record: {e}") from e
            self._apply(kind, records.canonical(key), key, rec)
            self._log_records += 1
            pos = nl + 1
            good_end = pos
        if good_end < len(data):
            # appending after a torn line would glue the next record onto it
            with open(path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
        log.info("recovered %d records (%d log entries)", len(self._state), self._log_records)

    def close(self) -> None:
        """Close the log. Puts still queued are not written (and were never acknowledged)."""
        if self._flusher is not None:
            self._flusher.cancel()
        try:
            self._wal.close()
        except OSError:
            pass
