"""Damage to one file of a node's data dir, as a disk does it: bits flipped in place, or the tail cut off (a torn
write), or one bit flipped inside a stored value (``value``). Behind the ``corrupt`` fault (``splitbrain.nemesis.faults.disk.CorruptFault``), which runs it while the node is down.

:func:`choose_file` picks the file (pure given the names and ``pick``); :func:`corrupt_file` changes it and returns
what it did as JSON data: ``{"file", "mode", "size", "changes": [{"offset", "before", "after"}]}`` (bytes as hex),
or for ``truncate`` ``{"file", "mode", "size", "new_size", "removed"}`` (the removed tail's first bytes as hex).

``value`` is the flip a checksum exists for: a random bit anywhere mostly lands in a file's framing (page headers,
lengths, JSON punctuation), where any reader notices it as a parse error. ``value`` flips the lowest bit of an
ASCII digit inside a run of at least ``TEXT_RUN`` printable bytes (a number of a text-encoded record: JSON, CSV, a
SQLite text cell), so the digit stays a digit (0<->1, 2<->3, ... 8<->9) and the record still parses, now holding
another number. Only a checksum over the record tells. A file without such a digit gets a plain ``bitflip``.

Standalone (standard library only), so it is uploaded to SSH hosts and run there as ``python -m corruption`` (see
:func:`main`, which prints the same JSON data).

Must not: touch a file outside the data dir, grow a file, or change more than ``MAX_FLIPS`` bytes.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import re
import sys
from typing import Sequence

MAX_FLIPS = 64
MODES = ("bitflip", "truncate", "value")
#: The shortest run of printable bytes a ``value`` flip looks for digits in.
TEXT_RUN = 8
_TEXT = re.compile(rb"[\x20-\x7e]{%d,}" % TEXT_RUN)


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
    """Flip one random bit in each of ``flips`` random bytes, or the lowest bit of ``flips`` random digits inside
    text (``value``), or cut a random tail of 1..``truncate_max`` bytes (never more than half the file).
    ValueError for a bad mode or a file outside ``data_dir``."""
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
            digits = digit_offsets(f.read()) if mode == "value" else []
            pool = digits or range(size)
            changes = []
            for off in sorted(rng.sample(pool, min(max(1, flips), MAX_FLIPS, len(pool)))):
                f.seek(off)
                before = f.read(1)
                after = bytes([before[0] ^ (1 if digits else 1 << rng.randrange(8))])
                f.seek(off)
                f.write(after)
                changes.append({"offset": off, "before": before.hex(), "after": after.hex()})
            out["changes"] = changes
            if mode == "value" and not digits:
                out["why"] = "no digit inside text: flipped a random bit instead"
        f.flush()
        os.fsync(f.fileno())
    return out


def digit_offsets(data: bytes) -> list[int]:
    """Pure: the offsets of the ASCII digits of ``data`` that sit inside a run of ``TEXT_RUN`` or more printable
    bytes (text, not a binary integer that happens to look like a digit)."""
    return [m.start() + i for m in _TEXT.finditer(data) for i, b in enumerate(m.group()) if 0x30 <= b <= 0x39]


def corrupt_dir(data_dir: str, patterns: list[str], pick: float, mode: str, rng: random.Random, *,
                flips: int = 1) -> dict:
    """Choose a file of ``data_dir`` (:func:`choose_file`) and damage it; ``{"file": None, "why"}`` if none
    matches."""
    rel = choose_file(list_files(data_dir), patterns, pick) if os.path.isdir(data_dir) else None
    if rel is None:
        return {"file": None, "why": f"no non-empty file matches {list(patterns)}"}
    return corrupt_file(data_dir, rel, mode, rng, flips=flips)


def main(argv: list[str] | None = None) -> int:
    """``python -m corruption --data-dir D --patterns JSON --pick P --mode M --seed S --flips N``: what
    :func:`corrupt_dir` did, as one JSON line (how an SSH host runs the fault on its own files)."""
    p = argparse.ArgumentParser(prog="python -m corruption")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--patterns", required=True, help="a JSON list of glob patterns")
    p.add_argument("--pick", type=float, default=0.0)
    p.add_argument("--mode", choices=MODES, default="bitflip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flips", type=int, default=1)
    a = p.parse_args(argv)
    out = corrupt_dir(a.data_dir, [str(x) for x in json.loads(a.patterns)], a.pick, a.mode, random.Random(a.seed),
                      flips=a.flips)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
