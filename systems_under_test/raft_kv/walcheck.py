"""Is SQLite's write-ahead log damaged? Checked before SQLite opens it, because SQLite itself does not say.

SQLite reads a WAL up to the first frame whose checksum fails and silently ignores the rest: for SQLite that is a
torn write at a crash, but on a disk that flipped a bit it drops transactions that were committed, fsynced and
acknowledged. A Raft node that came back with fewer entries (or an older vote) than it acknowledged breaks the
majority it was counted in. So the correct variant refuses to start on a damaged WAL, as on an entry whose CRC
does not match, instead of letting SQLite roll it back.

:func:`damage` reads the WAL as https://www.sqlite.org/fileformat2.html#walformat describes it: a 32-byte header
(magic, version, page size, checkpoint sequence, two salts, a checksum of the header), then frames of a 24-byte
header (page number, database size at a commit frame, the two salts, a running checksum) and one page. Frames of
the current generation carry the header's salts; after a checkpoint the log restarts from the top with new salts,
so frames with other salts after the current ones are stale and end the log. A process that is killed leaves no
partial frame (the kernel has every write) and a power loss with fsync leaves none either (SQLite fsyncs whole
frames at commit), so a length that is not a whole number of frames means the file was cut.

Standard library only (shipped with the server). Must not: call a log damaged that SQLite wrote and a kill or a
power loss left.
"""

from __future__ import annotations

import os
import struct

MAGIC = (0x377F0682, 0x377F0683)
HEADER, FRAME_HEADER = 32, 24


def _checksum(data: bytes, s0: int, s1: int, big: bool) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def damage(path: str) -> str | None:
    """Why the WAL at ``path`` is damaged, in words, or None (no WAL, empty, or sound)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    if len(data) < HEADER:
        return None if not data else f"the WAL is {len(data)} bytes, shorter than its header"
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:HEADER])
    if magic not in MAGIC:
        return "the WAL header's magic number is wrong"
    big = magic & 1 == 1
    s = _checksum(data[:24], 0, 0, big)
    if s != (c1, c2):
        return "the WAL header does not match its checksum"
    if page_size < 512 or page_size & (page_size - 1):
        return f"the WAL header's page size {page_size} is impossible"
    frame = FRAME_HEADER + page_size
    if (len(data) - HEADER) % frame:
        return f"the WAL was cut: {len(data) - HEADER} bytes after its header are not whole frames of {frame}"
    n = (len(data) - HEADER) // frame
    for k in range(n):
        off = HEADER + k * frame
        _page, _size, f1, f2, fc1, fc2 = struct.unpack(">6I", data[off:off + FRAME_HEADER])
        if (f1, f2) != (salt1, salt2):
            # A stale frame of an earlier generation ends the log, unless its salts are one flipped bit away from
            # the current ones, or a current frame follows it: then a current frame was damaged.
            if bin((f1 ^ salt1) | ((f2 ^ salt2) << 32)).count("1") == 1:
                return f"WAL frame {k} has a salt one bit off the header's"
            if k + 1 < n and struct.unpack(">2I", data[off + frame + 8:off + frame + 16]) == (salt1, salt2):
                return f"WAL frame {k} is not of the current generation, but frame {k + 1} is"
            return None
        s = _checksum(data[off:off + 8] + data[off + FRAME_HEADER:off + frame], *s, big)
        if s != (fc1, fc2):
            return f"WAL frame {k} does not match its checksum"
    return None


def check(data_dir: str, name: str = "raft.sqlite3") -> str | None:
    """:func:`damage` of the WAL of database ``name`` in ``data_dir``."""
    return damage(os.path.join(data_dir, f"{name}-wal"))
