"""Damage to one file of a node's data dir, as a disk does it: bits flipped in place, or the tail cut off (a torn
write). Behind the ``corrupt`` fault (``splitbrain.nemesis.faults.disk.CorruptFault``), which runs it while the node is down.

:func:`choose_file` picks the file (pure given the names and ``pick``); :func:`corrupt_file` changes it and returns
what it did as JSON data: ``{"file", "mode", "size", "changes": [{"offset", "before", "after"}]}`` (bytes as hex),
or for ``truncate`` ``{"file", "mode", "size", "new_size", "removed"}`` (the removed tail's first bytes as hex).

Must not: touch a file outside the data dir, grow a file, or change more than ``MAX_FLIPS`` bytes.
"""

from __future__ import annotations

import fnmatch
import os
import random
from typing import Sequence

MAX_FLIPS = 64
MODES = ("bitflip", "truncate")


def choose_file(names: Sequence[str], patterns: Sequence[str], pick: float) -> str | None:
    """Pure: of ``names`` (relative paths), those matching any of ``patterns``, sorted; the one ``pick`` in
    [0, 1) points at. None if none matches."""
    matching = sorted(n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns))
    if not matching:
        return None
    return matching[int(pick * len(matching)) % len(matching)]


def list_files(data_dir: str) -> list[str]:
    """Every non-empty regular file under ``data_dir``, as paths relative to it (bounded walk)."""
    out = []
    for root, dirs, files in os.walk(data_dir):
        for f in files:
            p = os.path.join(root, f)
            if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) > 0:
                out.append(os.path.relpath(p, data_dir))
        if len(out) > 10_000:
            break
    return out


def corrupt_file(data_dir: str, rel: str, mode: str, rng: random.Random, *, flips: int = 1,
                 truncate_max: int = 256) -> dict:
    """Flip one random bit in each of ``flips`` random bytes, or cut a random tail of 1..``truncate_max`` bytes
    (never more than half the file). ValueError for a bad mode or a file outside ``data_dir``."""
    if mode not in MODES:
        raise ValueError(f"unknown corruption mode {mode!r} (known: {', '.join(MODES)})")
    base = os.path.realpath(data_dir)
    path = os.path.realpath(os.path.join(base, rel))
    if not path.startswith(base + os.sep) or not os.path.isfile(path):
        raise ValueError(f"{rel!r} is not a file of the data dir")
    size = os.path.getsize(path)
    out: dict = {"file": rel, "mode": mode, "size": size}
    if size == 0:
        return {**out, "changes": []}
    with open(path, "r+b") as f:
        if mode == "truncate":
            cut = rng.randint(1, max(1, min(truncate_max, size // 2)))
            f.seek(size - cut)
            removed = f.read(min(cut, 32))
            f.truncate(size - cut)
            out.update(new_size=size - cut, removed=removed.hex())
        else:
            changes = []
            for off in sorted(rng.sample(range(size), min(max(1, flips), MAX_FLIPS, size))):
                f.seek(off)
                before = f.read(1)
                after = bytes([before[0] ^ (1 << rng.randrange(8))])
                f.seek(off)
                f.write(after)
                changes.append({"offset": off, "before": before.hex(), "after": after.hex()})
            out["changes"] = changes
        f.flush()
        os.fsync(f.fileno())
    return out
