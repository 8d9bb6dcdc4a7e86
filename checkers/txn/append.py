"""Dependency inference for list-append transactions (Elle's list-append), and its non-cycle anomalies.

Each key is a list that transactions append unique elements to; a read returns the whole list. Every read of a key
must be a prefix of the longest one, so the longest read *is* the key's version order (a read that is not a prefix
is ``incompatible-order``). From it:

- **ww**: the writers of consecutive elements (T1 appended x, T2 appended the next element y);
- **wr**: the writer of the last element of a read -> the reader;
- **rw**: a reader -> the writer of the element right after what it read (it did not see that append).

Only a transaction's *external* reads (before its own appends to that key) give wr/rw edges; all committed reads
give the order. Non-cycle anomalies: ``G1a`` (an element a failed transaction appended was read), ``G1b`` (a read
ends in an element its writer followed with another append to the same key), ``internal`` (a read disagrees with
the transaction's own earlier read and appends), ``duplicate-elements``, ``garbage-read`` (an element nobody
appended), ``incompatible-order``, ``lost-update`` (two committed transactions read the same version of a key
and both appended to it) and, with real-time order, ``lost-append`` (a committed append no read shows, though
reads began after it). Appends that no read shows have no known place and give no edges (as in Elle).
"""

from __future__ import annotations

from splitbrain.checkers.txn.base import Inference
from splitbrain.checkers.txn.base import fmt as _fmt
from splitbrain.checkers.txn.base import fmt_key as _key
from splitbrain.checkers.txn.graph import RW, WR, WW, native_core
from splitbrain.checkers.txn.txns import APPEND, FAIL, OK, READ, Txn, TxnFormatError, bad_mop

_EMPTY: dict = {}


class AppendInference(Inference):
    """The list-append inference (see :class:`splitbrain.checkers.txn.base.Inference` for the contract)."""

    kind = "list-append"

    def __init__(self, txns: list[Txn], adj: list[dict]):
        super().__init__(txns, adj)
        self.appender: dict = {}   # key -> {element: txn id} (ok and info transactions)
        self.writers: dict = {}    # key -> [txn id or None per element of the version order]
        self.order: dict = {}      # key -> the version order (the longest read)
        self._pos: dict = {}       # key -> {element: position}, built lazily for explanations
        self._run()

    def _run(self) -> None:
        aborted: dict = {}         # key -> {element: failed txn id}
        # key -> flat [reader, list, reader, list ...] of every committed read, in history order; the reader is
        # the txn id for an external read (the first micro-op of the transaction on that key), ~id for a later one
        reads: dict = {}
        inter: dict = {}           # key -> elements their writer followed with another append to the key
        rmw: dict = {}             # key -> {length read: [txn ids that then appended]}
        core = native_core()
        if core is None or not core.append_scan(self, self.txns, aborted, reads, inter, rmw, FAIL, OK, APPEND,
                                                READ):
            if core is not None:  # the native pass gave up (a malformed micro-op...): start over in Python
                aborted, reads, inter, rmw = {}, {}, {}, {}
                self.appender.clear()
                self.anomalies, self.counts, self.problems = {}, {}, []
            self._scan(aborted, reads, inter, rmw)
        self._after_scan(aborted, reads, inter, rmw)

    def _scan(self, aborted: dict, reads: dict, inter: dict, rmw: dict) -> None:
        """The first pass, in Python: appenders, reads per key, internal reads, intermediate appends, read-then-
        append per key (checkers/txn/_txn_native.c ``append_scan`` does the same, natively)."""
        txns, appender = self.txns, self.appender
        # The hot loop of the checker: locals bound once, rare cases in helpers.
        appender_get, reads_get = appender.get, reads.get
        t = None
        try:
            for t in txns:
                tid = t.id
                typ = t.type
                if typ == FAIL:
                    for f, k, x in t.mops:
                        if f == APPEND:
                            aborted.setdefault(k, {})[x] = tid
                    continue
                ok = typ == OK
                state = {}         # key -> [known list or None, own appends since, last own append or None]
                for f, k, v in t.mops:
                    if f == APPEND:
                        a = appender_get(k)
                        if a is None:
                            a = appender[k] = {v: tid}
                        else:
                            if v in a and a[v] != tid:
                                self._not_unique("appended to", v, k, a[v], t)
                            a[v] = tid
                        s = state.get(k)
                        if s is None:
                            state[k] = [None, [v], v]
                            continue
                        if s[2] is not None:
                            inter.setdefault(k, set()).add(s[2])
                        elif ok and s[0] is not None:
                            rmw.setdefault(k, {}).setdefault(len(s[0]), []).append(tid)
                        s[1].append(v)
                        s[2] = v
                    elif f == READ:
                        if not ok:
                            continue
                        if v is None:
                            v = []
                        elif type(v) is not list:
                            raise TxnFormatError(f"op {t.index}: a read of list {_key(k)} returned "
                                                 f"{v!r:.60}, not a list")
                        s = state.get(k)
                        if s is None:
                            state[k] = [v, [], None]
                            rk = reads_get(k)
                            if rk is None:
                                reads[k] = [tid, v]
                            else:
                                rk += (tid, v)
                        else:
                            rk = reads_get(k)
                            if rk is None:
                                reads[k] = [~tid, v]
                            else:
                                rk += (~tid, v)
                            self._reread(t, k, v, s)
                    else:
                        raise TxnFormatError(f"op {t.index}: a {f!r} micro-op in a list-append history "
                                             f"({_key(k)}); write-registers and lists can't be mixed")
        except (ValueError, TypeError) as e:
            if isinstance(e, TxnFormatError):
                raise
            raise bad_mop(t) from None

    def _after_scan(self, aborted: dict, reads: dict, inter: dict, rmw: dict) -> None:
        self._reads = reads
        g1b = self._orders_and_edges(reads, aborted, inter)
        for tid, k, v, w in sorted(g1b, key=lambda x: x[0]):  # in history order, as examples are kept
            self._note("G1b", key=k, element=v[-1], reader=self._name(tid), writer=self._name(w),
                       explanation=f"{self._name(tid)} read {_key(k)} = {_fmt(v)}, ending in "
                       f"{_fmt(v[-1])}, an intermediate append: {self._name(w)} appended more to "
                       f"{_key(k)} after it")
        for k, by_len in rmw.items():
            for n, tids in by_len.items():
                if len(tids) > 1:
                    names = [self._name(x) for x in tids]
                    read = self.order.get(k, [])[:n]
                    self._note("lost-update", key=k, read=read, txns=names,
                               explanation=f"{' and '.join(names[:4])} {'both' if len(names) == 2 else 'all'} "
                               f"read {_key(k)} = {_fmt(read)} and then appended to it: only one of them can have "
                               f"come first")

    def _reread(self, t: Txn, k, v: list, s: list) -> None:
        """A read of a key the transaction already read or appended to: it must agree with both."""
        known, own = s[0], s[1]
        if known is not None:
            if v != known + own:
                self._note("internal", txn=t.name, key=k, read=v, expected=known + own,
                           explanation=f"{t.name} read {_key(k)} = {_fmt(v)}, but its own earlier read and "
                           f"appends say it should be {_fmt(known + own)}")
        elif v[len(v) - len(own):] != own:
            self._note("internal", txn=t.name, key=k, read=v, expected_suffix=own,
                       explanation=f"{t.name} read {_key(k)} = {_fmt(v)} after appending {_fmt(own)}, which the "
                       f"read does not end with")
        s[0] = v
        s[1] = []

    def _orders_and_edges(self, reads: dict, aborted: dict, inter: dict) -> list:
        """One pass per key: its version order, its edges (ww between consecutive appends; wr and rw from each
        external read) and then the anomalies of reads that don't fit it. Returns the G1b reads found, as
        (reader, key, list, writer), for the caller to note in history order. Natively
        (checkers/txn/_txn_native.c ``append_edges``), the orders and edges of every key come first and the notes
        after, key by key in the same order: the same edges in the same order, the same notes in the same order."""
        g1b: list = []
        core = native_core()
        if core is not None:
            flagged = core.append_edges(reads, self.appender, inter, self.adj, self.order, self.writers, g1b,
                                        WR, RW, WW)
            for k, bad in flagged:
                self._key_notes(k, reads[k], bad, aborted)
            return g1b
        for k, rs in reads.items():
            bad = self._key_edges(k, rs, inter.get(k), g1b)
            if bad or None in self.writers[k] or len(set(self.order[k])) != len(self.order[k]):
                self._key_notes(k, rs, bad, aborted)
        return g1b

    def _key_edges(self, k, rs: list, ik, g1b: list) -> list:
        """Key ``k``'s version order and edges from its reads ``rs`` (flat reader, list, ...); appends its G1b
        reads to ``g1b``. Returns the positions (in ``rs[1::2]``) of the non-empty reads that are not a prefix of
        the order."""
        adj = self.adj
        readers, lists = rs[0::2], rs[1::2]
        longest = max(lists, key=len)
        self.order[k] = longest
        a = self.appender.get(k, _EMPTY)
        writers = [a.get(x) for x in longest]
        self.writers[k] = writers
        size = len(longest)
        bad = []
        first = writers[0] if size else None
        for i, (tid, v) in enumerate(zip(readers, lists)):
            n = len(v)
            if not n:
                # an empty read: before the key's first append
                if tid >= 0 and first is not None and first != tid:
                    d = adj[tid]
                    d[first] = d.get(first, 0) | RW
                continue
            if v is not longest and (longest if n == size else longest[:n]) != v:
                bad.append(i)
            if tid < 0:
                continue
            last = v[-1]
            prefix = longest[n - 1] == last
            w = writers[n - 1] if prefix else a.get(last)
            if w is not None and w != tid:
                d = adj[w]
                d[tid] = d.get(tid, 0) | WR
                if ik is not None and last in ik:
                    g1b.append((tid, k, v, w))
            if prefix and n < size:
                nx = writers[n]
                if nx is not None and nx != tid:
                    d = adj[tid]
                    d[nx] = d.get(nx, 0) | RW
        prev = first
        for w in writers[1:]:
            if w is not None and prev is not None and w != prev:
                d = adj[prev]
                d[w] = d.get(w, 0) | WW
            prev = w
        return bad

    def _key_notes(self, k, rs: list, bad: list, aborted: dict) -> None:
        """The anomalies of key ``k`` (called only when it may have some): an order with an element twice, the
        reads at positions ``bad`` that are not a prefix of it, elements no committed or indeterminate append
        explains."""
        readers, lists = rs[0::2], rs[1::2]
        longest, writers = self.order[k], self.writers[k]
        a = self.appender.get(k, _EMPTY)
        if len(set(longest)) != len(longest):
            r = readers[lists.index(longest)]
            reader = self._name(r if r >= 0 else ~r)
            self._note("duplicate-elements", key=k, read=longest, txn=reader,
                       explanation=f"{reader} read {_key(k)} = {_fmt(longest)}, which holds an element twice")
        odd = []  # elements no committed or indeterminate append explains
        last_bad = None
        for i in bad:
            tid, v = readers[i], lists[i]
            odd.extend(x for x in v if x not in a)
            r = tid if tid >= 0 else ~tid
            if r != last_bad:  # one example per reading transaction
                last_bad = r
                at = next(i for i, (x, y) in enumerate(zip(v, longest)) if x != y)
                self._note("incompatible-order", key=k, read=v, other=longest, txn=self._name(r),
                           explanation=f"{self._name(r)} read {_key(k)} = {_fmt(v)}, which is not a "
                           f"prefix of another read of it, {_fmt(longest)}: element {at + 1} is "
                           f"{_fmt(v[at])} in one and {_fmt(longest[at])} in the other")
        odd.extend(x for x, w in zip(longest, writers) if w is None)
        for x in dict.fromkeys(odd):
            reader = next(self._name(r if r >= 0 else ~r) for r, v in zip(readers, lists) if x in v)
            failed = aborted.get(k, _EMPTY).get(x)
            if failed is not None:
                self._note("G1a", key=k, element=x, reader=reader, writer=self._name(failed),
                           explanation=f"{reader} read {_key(k)} with {_fmt(x)}, which {self._name(failed)} "
                           f"appended and then aborted")
            else:
                self._note("garbage-read", key=k, element=x, reader=reader,
                           explanation=f"{reader} read {_key(k)} with {_fmt(x)}, which no transaction "
                           f"appended")

    def find_lost_appends(self) -> None:
        """``lost-append``: an append of a committed transaction that no read shows, though a read of the key began
        after that transaction completed (real time: only strict serializability rules this out). Checked only
        where the key's longest read misses the element, so it costs little."""
        txns = self.txns
        for k, a in self.appender.items():
            rs = self._reads.get(k)
            if not rs:
                continue
            seen = self.order.get(k, [])
            if len(seen) == len(a):
                continue
            missing = a.keys() - seen  # usually the few appends after the key's last read
            readers = last_invoke = None
            for x in missing:  # any note to take? (mostly not: then the order of the set does not matter)
                tw = txns[a[x]]
                if tw.type != OK:
                    continue
                if last_invoke is None:
                    last_invoke = max(txns[r if r >= 0 else ~r].invoke_pos for r in rs[0::2])
                if last_invoke > tw.complete_pos:
                    break
            else:
                continue
            seen = set(seen)
            for x, w in a.items():  # in the order of the appends, as examples are kept
                tw = txns[w]
                if x in seen or tw.type != OK:
                    continue
                if readers is None:
                    readers = [r if r >= 0 else ~r for r in rs[0::2]]
                    last_invoke = max(txns[r].invoke_pos for r in readers)
                if last_invoke > tw.complete_pos:  # else no read began after it (the usual case): no scan
                    tr = txns[next(r for r in readers if txns[r].invoke_pos > tw.complete_pos)]
                    self._note("lost-append", key=k, element=x, writer=tw.name, reader=tr.name,
                               explanation=f"{tw.name} appended {_fmt(x)} to {_key(k)} and committed, but "
                               f"{tr.name}, which began after that, read {_key(k)} without it (and so does "
                               f"every other read)")

    # --- explanations (only for the few edges of reported cycles) ---

    def external_reads(self, t: Txn):
        seen = set()
        for f, k, v in t.mops:
            if k in seen:
                continue
            seen.add(k)
            if f == READ and t.type == OK:
                yield k, [] if v is None else v

    def _position(self, k):
        p = self._pos.get(k)
        if p is None:
            p = self._pos[k] = {x: i for i, x in enumerate(self.order.get(k, []))}
        return p

    def explain(self, a: int, b: int, kind: int) -> str | None:
        ta, tb = self.txns[a], self.txns[b]
        if kind == WW:
            for f, k, x in ta.mops:
                if f != APPEND:
                    continue
                i = self._position(k).get(x)
                ws = self.writers.get(k, [])
                if i is not None and i + 1 < len(ws) and ws[i + 1] == b:
                    return (f"{tb.name} appended {_fmt(self.order[k][i + 1])} to {_key(k)} right after "
                            f"{ta.name}'s append of {_fmt(x)}")
        elif kind == WR:
            for k, v in self.external_reads(tb):
                if v and self.appender.get(k, {}).get(v[-1]) == a:
                    return f"{tb.name} read {_key(k)} = {_fmt(v)}, which ends in {ta.name}'s append of {_fmt(v[-1])}"
        elif kind == RW:
            for k, v in self.external_reads(ta):
                ws = self.writers.get(k, [])
                if len(v) < len(ws) and ws[len(v)] == b:
                    return (f"{ta.name} read {_key(k)} = {_fmt(v)} without {tb.name}'s append of "
                            f"{_fmt(self.order[k][len(v)])}, which came next")
        return None
