"""Dependency inference for read-write registers (Elle's rw-register), and its non-cycle anomalies.

Each key is a register; every write to a key writes a value no other write to it uses, so a read names the write
it saw. ``nil`` is the initial state. Version orders are partial here (a register read shows one version, not a
history), inferred as Elle does:

- the initial state precedes every write;
- a transaction that read ``k = v`` and then wrote ``k = x`` puts ``v`` before ``x`` (*writes follow reads*: true
  under any model this checker tells apart, as a committed read-modify-write).

Edges: **wr** writer -> reader; **ww** the writer of ``v`` -> a transaction that read ``v`` and overwrote it; **rw**
a reader of ``v`` -> a writer of a version after ``v`` (readers of ``nil`` -> every transaction that installed a
value for the key). Writes of ``info`` transactions count (they may have committed), reads only of ``ok`` ones.
Non-cycle anomalies: ``G1a`` (read a value a failed transaction wrote), ``G1b`` (read a value its writer
overwrote in the same transaction), ``internal`` (a read disagrees with the transaction's own earlier read or
write), ``garbage-read`` (a value nobody wrote) and ``lost-update`` (two committed transactions read the same
version of a key and both wrote it).

The scan and the edges have a native twin (checkers/txn/_txn_native.c ``register_run``, used unless SPLITBRAIN_PURE=1
or the build had no C compiler): change both; tests/test_txn_checker.py compares them.
"""

from __future__ import annotations

from splitbrain.checkers.txn.base import Inference
from splitbrain.checkers.txn.base import fmt as _fmt
from splitbrain.checkers.txn.base import fmt_key as _key
from splitbrain.checkers.txn.graph import RW, WR, WW, native_core
from splitbrain.checkers.txn.txns import FAIL, OK, READ, WRITE, Txn, TxnFormatError, bad_mop

_NIL = object()  # "no value known yet" in a transaction's own view of a key (None is the register's nil)


class RegisterInference(Inference):
    """The rw-register inference (see :class:`splitbrain.checkers.txn.base.Inference` for the contract)."""

    kind = "rw-register"

    def __init__(self, txns: list[Txn], adj: list[dict]):
        super().__init__(txns, adj)
        self.writer: dict = {}      # key -> {value: txn id} (ok and info transactions)
        self.installed: dict = {}   # key -> [(txn id, value)] each transaction's last write to the key
        self.wfr: dict = {}         # (txn id, key) -> the value it read before writing the key
        self._run()

    def _run(self) -> None:
        aborted: dict = {}      # key -> {value: failed txn id}
        inter: dict = {}        # key -> values their writer overwrote within the transaction
        odd: list = []          # (reader, key, value, writer or None): reads to note, in history order
        lost: list = []         # (key, value, [txn ids]): read the same version, then all wrote it
        core = native_core()
        if core is None or not core.register_run(self, self.txns, aborted, inter, odd, lost, FAIL, OK, WRITE, READ,
                                                 WR, WW, RW):
            if core is not None:  # the native pass gave up (a malformed micro-op...): start over in Python
                aborted, inter = {}, {}
                self.writer.clear()
                self.installed.clear()
                self.wfr.clear()
                self.anomalies, self.counts, self.problems = {}, {}, []
            readers: dict = {}  # key -> {value: [txn ids]} committed external reads
            ext = self._scan(aborted, inter, readers)
            self._edges(inter, readers, ext, odd, lost)
        self._notes(aborted, odd, lost)

    def _scan(self, aborted: dict, inter: dict, readers: dict) -> list:
        """The first pass, in Python: writers, installed values, writes that follow reads, intermediate writes,
        internal reads, committed external reads per key and value. Returns those reads as (txn id, key, value) in
        history order (checkers/txn/_txn_native.c ``register_run`` does the same, natively)."""
        txns, writer, installed = self.txns, self.writer, self.installed
        ext: list = []
        # The hot loop: locals bound once.
        writer_get, readers_get, installed_get, ext_append, wfr = writer.get, readers.get, installed.get, \
            ext.append, self.wfr
        t = None
        try:
            for t in txns:
                tid = t.id
                if t.type == FAIL:
                    for f, k, x in t.mops:
                        if f == WRITE:
                            aborted.setdefault(k, {})[x] = tid
                    continue
                ok = t.type == OK
                view = None         # key -> the value this transaction last read or wrote there
                last = None         # key -> this transaction's last write
                first_read = None   # key -> what its external read of the key returned
                for f, k, v in t.mops:
                    if f == WRITE:
                        w = writer_get(k)
                        if w is None:
                            writer[k] = {v: tid}
                        else:
                            if v in w and w[v] != tid:
                                self._not_unique("written to", v, k, w[v], t)
                            w[v] = tid
                        if last is None:
                            last = {}
                        if view is None:
                            view = {}
                        p = last.get(k, _NIL)
                        if p is not _NIL:
                            inter.setdefault(k, set()).add(p)
                        last[k] = v
                        view[k] = v
                    elif f == READ:
                        if not ok:
                            continue
                        if view is None:
                            view = {}
                        seen = view.get(k, _NIL)
                        if seen is _NIL:
                            rk = readers_get(k)
                            if rk is None:
                                rk = readers[k] = {}
                            try:
                                same = rk.get(v)
                            except TypeError:
                                raise TxnFormatError(f"op {t.index}: a register read of {_key(k)} returned "
                                                     f"{v!r:.60}, which is not a single value") from None
                            if same is None:
                                rk[v] = [tid]
                            else:
                                same.append(tid)
                            ext_append((tid, k, v))
                            view[k] = v
                            if first_read is None:
                                first_read = {}
                            first_read[k] = v
                        elif seen != v:
                            self._internal(t, k, v, seen)
                    else:
                        raise TxnFormatError(f"op {t.index}: a {f!r} micro-op in a rw-register history "
                                             f"({_key(k)}); write-registers and lists can't be mixed")
                if last is not None:
                    for k, x in last.items():
                        ik = installed_get(k)
                        if ik is None:
                            installed[k] = [(tid, x)]
                        else:
                            ik.append((tid, x))
                        if ok and first_read is not None and k in first_read:
                            wfr[(tid, k)] = first_read[k]
        except (ValueError, TypeError) as e:
            if isinstance(e, TxnFormatError):
                raise
            raise bad_mop(t) from None
        return ext

    def _edges(self, inter: dict, readers: dict, ext: list, odd: list, lost: list) -> None:
        """The edges, in Python, after :meth:`_scan`: wr per external read, rw from readers of nil, ww and rw per
        write that follows a read. Appends the reads to note to ``odd`` and the lost updates to ``lost``."""
        writer_get, adj, wfr = self.writer.get, self.adj, self.wfr
        empty: dict = {}
        inter_get = inter.get
        for tid, k, v in ext:
            if v is None:
                continue
            w = writer_get(k, empty).get(v)
            if w is None:
                odd.append((tid, k, v, None))
                continue
            if w != tid:
                d = adj[w]
                d[tid] = d.get(tid, 0) | WR
                i = inter_get(k)
                if i is not None and v in i:
                    odd.append((tid, k, v, w))
        # readers of the initial state -> every transaction that installed a value
        installed = self.installed
        for k, by_value in readers.items():
            nil_readers = by_value.get(None)
            if not nil_readers:
                continue
            for w, _ in installed.get(k, ()):
                for r in nil_readers:
                    if r != w:
                        d = adj[r]
                        d[w] = d.get(w, 0) | RW
        # writes follow reads: v before the value the transaction installed
        rmw: dict = {}
        rmw_get = rmw.get
        for (tid, k), v in wfr.items():
            same = rmw_get((k, v))
            if same is None:
                rmw[(k, v)] = [tid]
            else:
                same.append(tid)
            if v is None:
                continue
            w = writer_get(k, empty).get(v)
            if w is not None and w != tid:
                d = adj[w]
                d[tid] = d.get(tid, 0) | WW
            for r in readers[k].get(v, ()):
                if r != tid:
                    d = adj[r]
                    d[tid] = d.get(tid, 0) | RW
        lost.extend((k, v, tids) for (k, v), tids in rmw.items() if len(tids) > 1)

    # --- notes (rare: in Python on both paths) ---

    def _internal(self, t: Txn, k, v, seen) -> None:
        self._note("internal", txn=t.name, key=k, read=v, expected=seen,
                   explanation=f"{t.name} read {_key(k)} = {_fmt(v)}, but its own earlier read or write says "
                   f"{_fmt(seen)}")

    def _notes(self, aborted: dict, odd: list, lost: list) -> None:
        """G1a, garbage-read and G1b for the reads in ``odd``, then lost-update, in the order found."""
        empty: dict = {}
        for tid, k, v, w in odd:
            if w is None:
                failed = aborted.get(k, empty).get(v)
                if failed is not None:
                    self._note("G1a", key=k, value=v, reader=self._name(tid), writer=self._name(failed),
                               explanation=f"{self._name(tid)} read {_key(k)} = {_fmt(v)}, which "
                               f"{self._name(failed)} wrote and then aborted")
                else:
                    self._note("garbage-read", key=k, value=v, reader=self._name(tid),
                               explanation=f"{self._name(tid)} read {_key(k)} = {_fmt(v)}, which no "
                               f"transaction wrote")
            else:
                self._note("G1b", key=k, value=v, reader=self._name(tid), writer=self._name(w),
                           explanation=f"{self._name(tid)} read {_key(k)} = {_fmt(v)}, an intermediate "
                           f"value: {self._name(w)} overwrote it in the same transaction")
        for k, v, tids in lost:
            names = [self._name(x) for x in tids]
            self._note("lost-update", key=k, read=v, txns=names,
                       explanation=f"{' and '.join(names[:4])} {'both' if len(names) == 2 else 'all'} "
                       f"read {_key(k)} = {_fmt(v)} and then wrote it: only one of them can have come first")

    # --- explanations ---

    def _ext_read(self, t: Txn, k):
        for f, kk, v in t.mops:
            if kk == k:
                return (True, v) if f == READ and t.type == OK else (False, None)
        return False, None

    def explain(self, a: int, b: int, kind: int) -> str | None:
        ta, tb = self.txns[a], self.txns[b]
        if kind == WR:
            for f, k, v in tb.mops:
                if f == READ and v is not None and self.writer.get(k, {}).get(v) == a:
                    return f"{tb.name} read {_key(k)} = {_fmt(v)}, which {ta.name} wrote"
        elif kind == WW:
            for f, k, x in ta.mops:
                if f == WRITE and self.wfr.get((b, k), _NIL) == x:
                    return f"{tb.name} read {_key(k)} = {_fmt(x)} ({ta.name}'s write) and then overwrote it"
        elif kind == RW:
            for f, k, x in tb.mops:
                if f != WRITE:
                    continue
                found, v = self._ext_read(ta, k)
                if not found:
                    continue
                if v is None:
                    return (f"{ta.name} read {_key(k)} = nil, the initial state, so it came before "
                            f"{tb.name}'s write of {_fmt(x)}")
                if self.wfr.get((b, k), _NIL) == v:
                    return (f"{ta.name} read {_key(k)} = {_fmt(v)}, which {tb.name} read too and then "
                            f"overwrote with {_fmt(x)}")
        return None
