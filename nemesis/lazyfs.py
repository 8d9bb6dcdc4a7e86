"""A FUSE file system that forgets what was not fsynced, as a machine that loses power does (the idea of Jepsen's
LazyFS). Behind the ``lose-unfsynced`` fault.

``python -m splitbrain.nemesis.lazyfs --backing DIR --mount DIR --pending FILE`` mounts ``--mount`` (a node's data dir) over
``--backing`` (where durable bytes live). Every write and truncate is kept in this process's memory, per file (by
inode), and reaches the backing file only when that file is fsynced (or fdatasynced). So killing this process with
SIGKILL is the power loss: everything not fsynced is gone with it. A file created since its directory was last
fsynced and never fsynced itself is listed in ``--pending`` (kept up to date, outside the mount); whoever "pulls the
plug" deletes those from the backing dir (:func:`drop_pending`), since a new directory entry is not durable either.

Not modelled (documented limits): renames, unlinks and mkdirs reach the backing dir at once (they are durable
without a directory fsync); a file's data is lost whole, never torn mid-write.

Standalone on purpose: only the ``mfusepy`` binding of libfuse and the standard library (an SSH host gets this
file and mfusepy uploaded, :mod:`splitbrain.nemesis.remote_code`, and runs ``python -m lazyfs``). Single-threaded (the
FUSE loop runs ``nothreads``), so no locking. Must not: let an un-fsynced byte reach the backing dir.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys


class Dirty:
    """What a file has that its backing file does not: its logical size, the backing bytes it still uses (a
    truncate cuts them), and the writes since the last fsync, in order."""

    def __init__(self, size: int):
        self.size = size
        self.base_limit = size
        self.extents: list[tuple[int, bytes]] = []

    def write(self, offset: int, data: bytes) -> None:
        self.extents.append((offset, bytes(data)))
        self.size = max(self.size, offset + len(data))

    def truncate(self, length: int) -> None:
        self.extents = [(o, d[:max(0, length - o)]) for o, d in self.extents if o < length]
        self.base_limit = min(self.base_limit, length)
        self.size = length

    def read(self, backing_fd: int, size: int, offset: int) -> bytes:
        end = min(offset + size, self.size)
        if end <= offset:
            return b""
        base = os.pread(backing_fd, max(0, min(end, self.base_limit) - offset), offset) if offset < self.base_limit \
            else b""
        buf = bytearray(base) + bytes(end - offset - len(base))
        for o, d in self.extents:
            lo, hi = max(o, offset), min(o + len(d), end)
            if lo < hi:
                buf[lo - offset:hi - offset] = d[lo - o:hi - o]
        return bytes(buf)

    def flush_to(self, backing_fd: int) -> None:
        """Make the backing file equal to the logical content and fsync it."""
        os.ftruncate(backing_fd, self.base_limit)
        for o, d in self.extents:
            os.pwrite(backing_fd, d, o)
        os.ftruncate(backing_fd, self.size)
        os.fsync(backing_fd)


def drop_pending(backing: str, pending_file: str) -> list[str]:
    """After a power loss: delete from ``backing`` every file listed as created and not yet durable. Returns them."""
    try:
        with open(pending_file) as f:
            pending = json.load(f)
    except FileNotFoundError:
        return []
    dropped = []
    for rel in sorted(pending):
        path = os.path.join(backing, rel.lstrip("/"))
        if os.path.realpath(path).startswith(os.path.realpath(backing) + os.sep) and os.path.isfile(path):
            os.unlink(path)
            dropped.append(rel)
    os.unlink(pending_file)
    return dropped


def make_ops(backing: str, pending_file: str):
    from mfusepy import FuseOSError, Operations

    class LazyFS(Operations):
        use_ns = True

        def __init__(self):
            self.root = os.path.realpath(backing)
            self.dirty: dict[int, Dirty] = {}  # by backing inode
            self.pending: set[str] = set()
            self._save_pending()

        # -- helpers
        def _p(self, path: str) -> str:
            return os.path.join(self.root, path.lstrip("/"))

        def _save_pending(self) -> None:
            tmp = pending_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(sorted(self.pending), f)
            os.replace(tmp, pending_file)

        def _forget_pending(self, paths) -> None:
            before = len(self.pending)
            self.pending -= set(paths)
            if len(self.pending) != before:
                self._save_pending()

        def _dirty(self, fd: int) -> Dirty:
            st = os.fstat(fd)
            d = self.dirty.get(st.st_ino)
            if d is None:
                d = self.dirty[st.st_ino] = Dirty(st.st_size)
            return d

        # -- metadata
        def getattr(self, path, fh=None):
            try:
                st = os.fstat(fh) if fh is not None else os.lstat(self._p(path))
            except OSError as e:
                raise FuseOSError(e.errno) from None
            out = {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns",
                                               "st_mtime_ns", "st_ctime_ns", "st_ino")}
            out["st_atime"], out["st_mtime"], out["st_ctime"] = (out.pop("st_atime_ns"), out.pop("st_mtime_ns"),
                                                                  out.pop("st_ctime_ns"))
            d = self.dirty.get(st.st_ino)
            if d is not None:
                out["st_size"] = d.size
            return out

        def readdir(self, path, fh):
            return [".", "..", *os.listdir(self._p(path))]

        def access(self, path, amode):
            if not os.access(self._p(path), amode):
                raise FuseOSError(errno.EACCES)
            return 0

        def statfs(self, path):
            st = os.statvfs(self._p(path))
            return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                                                "f_files", "f_flag", "f_frsize", "f_namemax")}

        def chmod(self, path, mode):
            os.chmod(self._p(path), mode)
            return 0

        def chown(self, path, uid, gid):
            os.chown(self._p(path), uid, gid)
            return 0

        def utimens(self, path, times=None):
            os.utime(self._p(path), ns=times) if times else os.utime(self._p(path))
            return 0

        def mkdir(self, path, mode):
            os.mkdir(self._p(path), mode)
            return 0

        def rmdir(self, path):
            os.rmdir(self._p(path))
            return 0

        def unlink(self, path):
            try:
                ino = os.lstat(self._p(path)).st_ino
                os.unlink(self._p(path))
            except OSError as e:
                raise FuseOSError(e.errno) from None
            self.dirty.pop(ino, None)  # an open fd may still write to the unlinked file: then it is dirty again
            self._forget_pending([path])
            return 0

        def rename(self, old, new):
            try:
                os.rename(self._p(old), self._p(new))
            except OSError as e:
                raise FuseOSError(e.errno) from None
            if old in self.pending:
                self.pending.discard(old)
                self.pending.add(new)
                self._save_pending()
            return 0

        # -- files
        def open(self, path, flags):
            try:
                # The backing file is opened read-write whenever the caller may write (a flush at fsync writes
                # through this fd), never with O_APPEND or O_TRUNC: the kernel gives append offsets, and a truncate
                # is kept in memory like any write.
                writes = flags & (os.O_WRONLY | os.O_RDWR)
                fd = os.open(self._p(path), os.O_RDWR if writes else os.O_RDONLY)
            except OSError as e:
                raise FuseOSError(e.errno) from None
            if flags & os.O_TRUNC:
                self._dirty(fd).truncate(0)
            return fd

        def create(self, path, mode, fi=None):
            try:
                fd = os.open(self._p(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
            except FileExistsError:
                fd = os.open(self._p(path), os.O_RDWR)
                self._dirty(fd).truncate(0)
                return fd
            except OSError as e:
                raise FuseOSError(e.errno) from None
            self.pending.add(path)
            self._save_pending()
            return fd

        def read(self, path, size, offset, fh):
            d = self.dirty.get(os.fstat(fh).st_ino)
            return os.pread(fh, size, offset) if d is None else d.read(fh, size, offset)

        def write(self, path, data, offset, fh):
            self._dirty(fh).write(offset, data)
            return len(data)

        def truncate(self, path, length, fh=None):
            if fh is not None:
                self._dirty(fh).truncate(length)
                return 0
            fd = os.open(self._p(path), os.O_RDWR)
            try:
                self._dirty(fd).truncate(length)
            finally:
                os.close(fd)
            return 0

        def fsync(self, path, datasync, fh):
            ino = os.fstat(fh).st_ino
            d = self.dirty.pop(ino, None)
            if d is not None:
                # The writes may have come through another descriptor and this one may be read-only: write
                # through a read-write descriptor of the same file.
                rw = os.open(f"/proc/self/fd/{fh}", os.O_RDWR)
                try:
                    d.flush_to(rw)
                finally:
                    os.close(rw)
            else:
                os.fsync(fh)
            if path:
                self._forget_pending([path])
            return 0

        def fsyncdir(self, path, datasync, fh):
            prefix = path.rstrip("/") + "/"
            self._forget_pending([p for p in self.pending if p.startswith(prefix) and "/" not in p[len(prefix):]])
            return 0

        def flush(self, path, fh):
            return 0

        def release(self, path, fh):
            os.close(fh)  # un-fsynced writes stay in memory: a close is not a sync
            return 0

    return LazyFS()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m splitbrain.nemesis.lazyfs")
    p.add_argument("--backing", required=True)
    p.add_argument("--mount", required=True)
    p.add_argument("--pending", required=True)
    p.add_argument("--drop-pending", action="store_true",
                   help="do not mount: after a power loss, delete the files listed in --pending from --backing "
                        "and print them as a JSON list (how an SSH host runs drop_pending)")
    a = p.parse_args(argv)
    if a.drop_pending:
        print(json.dumps(drop_pending(a.backing, a.pending)))
        return 0
    from mfusepy import FUSE

    os.makedirs(a.backing, exist_ok=True)
    os.makedirs(a.mount, exist_ok=True)
    try:
        FUSE(make_ops(a.backing, a.pending), a.mount, foreground=True, nothreads=True, fsname="splitbrain-lazyfs")
    except RuntimeError as e:  # fuse_main's own status, e.g. after SIGTERM: not a crash of this program
        print(f"lazyfs: the FUSE loop ended with status {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
