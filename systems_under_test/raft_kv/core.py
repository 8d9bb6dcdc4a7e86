"""The Raft core: pure state transitions, no sockets, no disk, no clock of its own.

``RaftCore`` is a message-passing state machine (the shape of etcd's ``raft`` package): the driver feeds it peer
messages (``step``), clock ticks (``tick(now)``) and proposals (``propose``); the core changes its state and leaves
behind what the driver must do next:

* ``take_persist()``: term/vote, log changes and a snapshot to write durably;
* ``take_outbox()``: messages to send, each flagged ``after_persist`` when it must not leave before that write
  (vote grants, append replies): a reply that promises a vote or an entry must survive a crash of its sender;
* ``take_committed()``: committed entries to apply, in order, exactly once;
* ``take_snapshot_to_restore()`` and ``take_confirmed_reads()``.

Messages are plain dicts (``t`` is the kind, ``term`` and ``from`` always present), so the driver sends them as
JSON without translation. Time comes in as ``now`` (monotonic seconds) and randomness from the injected ``rng``,
so tests drive whole elections without processes.

Pre-Vote (Raft thesis 9.6, on by default as in etcd): a node whose election timer runs out first asks whether a
majority *would* vote for it in the next term (``pv``), without changing anyone's term or vote; only then does it
start a real election. A node that still hears a live leader refuses such requests. So a node coming back from a
partition, whose term did not climb while it was cut off, does not depose a working leader.

Bugs are seeded here, behind flags, and nowhere else: ``commit_old_terms`` (count replicas for entries of earlier
terms: Figure 8 of the Raft paper; such a leader also skips the no-op barrier it would otherwise need) and
``stale_reads`` (the leader confirms reads without a heartbeat round). ``volatile-vote`` and ``no-dedup`` are the
storage's and the state machine's business.

What must not happen here: a vote granted twice in one term by one incarnation, a commit index that goes down, an
entry applied twice or out of order, truncation of an entry at or below the commit index.
"""

from __future__ import annotations

import random
from typing import Any

FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER = "follower", "pre-candidate", "candidate", "leader"
NOOP = {"op": "noop"}


# ------------------------------------------------------------------------------------------------- the log


class Log:
    """Entries ``[term, command]`` at indexes ``snapshot_index + 1 .. last_index``; everything at or below
    ``snapshot_index`` lives in the snapshot (whose last entry had ``snapshot_term``). Index 0 is the empty
    prefix, of term 0."""

    __slots__ = ("snapshot_index", "snapshot_term", "entries")

    def __init__(self, snapshot_index: int = 0, snapshot_term: int = 0, entries: list | None = None):
        self.snapshot_index = snapshot_index
        self.snapshot_term = snapshot_term
        self.entries: list[list] = list(entries or [])

    @property
    def last_index(self) -> int:
        return self.snapshot_index + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1][0] if self.entries else self.snapshot_term

    def term_at(self, index: int) -> int | None:
        """The term of the entry at ``index``; None if it is compacted away (below the snapshot) or not there."""
        if index == self.snapshot_index:
            return self.snapshot_term
        if index < self.snapshot_index or index > self.last_index:
            return None
        return self.entries[index - self.snapshot_index - 1][0]

    def entry(self, index: int) -> list:
        return self.entries[index - self.snapshot_index - 1]

    def slice(self, lo: int, hi: int) -> list[list]:
        """Entries ``lo..hi`` inclusive (``lo`` must be above the snapshot)."""
        base = self.snapshot_index + 1
        return self.entries[lo - base: hi - base + 1]

    def append(self, term: int, command: Any) -> int:
        self.entries.append([term, command])
        return self.last_index

    def truncate_from(self, index: int) -> None:
        """Drop entries ``index..last``."""
        del self.entries[index - self.snapshot_index - 1:]

    def compact(self, index: int, term: int) -> None:
        """Move the snapshot point up to ``index`` (of ``term``): entries at or below it are dropped, later ones
        kept. ``index`` may lie beyond the log (a snapshot from the leader): then the log becomes empty."""
        if index <= self.snapshot_index:
            return
        if index >= self.last_index:
            self.entries = []
        else:
            del self.entries[: index - self.snapshot_index]
        self.snapshot_index, self.snapshot_term = index, term

    def first_index_of_term_at(self, index: int) -> int:
        """The first index of the run of entries with the same term as ``index`` (for the conflict hint)."""
        term = self.term_at(index)
        i = index
        while i - 1 > self.snapshot_index and self.term_at(i - 1) == term:
            i -= 1
        return i

    def last_index_of_term(self, term: int) -> int | None:
        for i in range(self.last_index, self.snapshot_index, -1):
            t = self.term_at(i)
            if t == term:
                return i
            if t < term:  # terms only grow along a log
                return None
        return None


# ------------------------------------------------------------------------------------------------- pure rules


def majority(cluster_size: int) -> int:
    return cluster_size // 2 + 1


def log_up_to_date(cand_last_term: int, cand_last_index: int, my_last_term: int, my_last_index: int) -> bool:
    """Raft 5.4.1: the candidate's log is at least as up-to-date as mine (later last term wins, then longer)."""
    if cand_last_term != my_last_term:
        return cand_last_term > my_last_term
    return cand_last_index >= my_last_index


def may_grant_vote(current_term: int, voted_for: str | None, candidate: str, cand_term: int,
                   cand_last_term: int, cand_last_index: int, my_last_term: int, my_last_index: int) -> bool:
    """One vote per term (5.2) and only for an up-to-date log (5.4.1). ``current_term`` is the voter's term after
    it has moved up to a higher ``cand_term``; a stale candidate is refused."""
    if cand_term < current_term:
        return False
    if voted_for is not None and voted_for != candidate:
        return False
    return log_up_to_date(cand_last_term, cand_last_index, my_last_term, my_last_index)


def quorum_index(match_indexes: list[int]) -> int:
    """The highest index stored on a majority of the cluster (one match index per member, leader included)."""
    ranked = sorted(match_indexes, reverse=True)
    return ranked[majority(len(ranked)) - 1]


def advance_commit(log: Log, match_indexes: list[int], current_term: int, commit_index: int,
                   commit_old_terms: bool = False) -> int:
    """The new commit index of a leader. Raft 5.4.2: an entry is committed by counting replicas only if it is of
    the leader's current term; earlier entries are committed through it (terms grow along a log, so if the
    majority-replicated entry is of an older term, no entry of the current term is on a majority yet).
    ``commit_old_terms`` is the Figure 8 bug: count replicas for any entry. Never returns less than
    ``commit_index``."""
    n = quorum_index(match_indexes)
    if n <= commit_index:
        return commit_index
    if commit_old_terms or log.term_at(n) == current_term:
        return n
    return commit_index


# ------------------------------------------------------------------------------------------------- the node


class RaftCore:
    """One node's Raft state. See the module docstring for how a driver uses it."""

    def __init__(self, node_id: str, peers: list[str], *, term: int = 0, voted_for: str | None = None,
                 log: Log | None = None, snapshot_data: Any = None, rng: random.Random | None = None,
                 now: float = 0.0, election_timeout: tuple[float, float] = (0.3, 0.6),
                 heartbeat_interval: float = 0.05, check_quorum: float | None = None, max_batch: int = 512,
                 commit_old_terms: bool = False, stale_reads: bool = False, pre_vote: bool = True):
        self.id = node_id
        self.peers = [p for p in peers if p != node_id]
        self.cluster_size = len(self.peers) + 1
        self.term = term
        self.voted_for = voted_for
        self.log = log or Log()
        self.snapshot_data = snapshot_data
        self.rng = rng or random.Random()
        self.election_timeout = election_timeout
        self.heartbeat_interval = heartbeat_interval
        # Resend an unanswered append after this long: the link may have dropped it.
        self.resend_after = max(4 * heartbeat_interval, 0.1)
        self.check_quorum = check_quorum
        self.max_batch = max_batch
        self.commit_old_terms = commit_old_terms
        self.stale_reads = stale_reads
        self.pre_vote = pre_vote

        self.role = FOLLOWER
        self.leader: str | None = None
        # Everything at or below the snapshot is committed and applied (the driver restores the snapshot first).
        self.commit_index = self.log.snapshot_index
        self.last_applied = self.log.snapshot_index
        self.election_deadline = now + self._election_timeout()

        # Leader state.
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.inflight_until: dict[str, float] = {}   # peer -> resend deadline of the unanswered append
        self.acked_round: dict[str, int] = {}
        self.last_heard: dict[str, float] = {}
        self.round = 0                                # stamped on every append; echoed by the reply (ReadIndex)
        self.next_heartbeat = 0.0
        self.durable_index = self.log.last_index      # own log persisted up to here (a leader counts only that)
        self.pending_reads: list[tuple[Any, int]] = []  # (tag, round that a majority must ack)
        self.votes: set[str] = set()
        self.prevotes: set[str] = set()
        self.leader_heard_at = float("-inf")          # when an append or snapshot of the current leader came
        self.safety_violations = 0                    # committed entries overwritten (only the bugs do that)

        # Outputs for the driver.
        self.outbox: list[tuple[str, dict, bool]] = []
        self.hard_dirty = False
        self.log_dirty_from: int | None = None
        self.snapshot_dirty = False
        self.snapshot_to_restore = False
        self.confirmed_reads: list[tuple[Any, int]] = []

    # ------------------------------------------------------------------------------------------- driver API

    def tick(self, now: float) -> None:
        """Clock: start an election when the timer runs out; as leader, heartbeat and (optionally) step down
        when no majority has answered for ``check_quorum`` seconds."""
        if self.role == LEADER:
            if self.check_quorum is not None:
                heard = sorted((now - self.last_heard.get(p, now) for p in self.peers))
                # The (majority-1)-th freshest peer plus me make a majority.
                need = majority(self.cluster_size) - 1
                if need > 0 and heard[need - 1] > self.check_quorum:
                    self._become_follower(self.term, None, now)
                    return
            if now >= self.next_heartbeat:
                self.next_heartbeat = now + self.heartbeat_interval
                for p in self.peers:
                    self._send_append(p, now, heartbeat=True)
        elif now >= self.election_deadline:
            if self.pre_vote:
                self._start_pre_vote(now)
            else:
                self._start_election(now)

    def propose(self, command: Any, now: float) -> tuple[int, int] | None:
        """Append ``command`` as leader; returns (index, term), or None if not the leader. Replication happens on
        the next ``replicate`` (the driver calls it once per batch, so many proposals share one append)."""
        if self.role != LEADER:
            return None
        index = self.log.append(self.term, command)
        self._mark_log_dirty(index)
        return index, self.term

    def replicate(self, now: float) -> None:
        """As leader, send new entries to every follower that has no append in flight."""
        if self.role == LEADER:
            for p in self.peers:
                self._send_append(p, now)
            self._maybe_advance_commit()

    def request_read(self, tag: Any, now: float) -> bool:
        """Ask to serve a linearizable read (ReadIndex, Raft thesis 6.4). False if not the leader. The read is
        confirmed (appears in ``take_confirmed_reads`` with the index the state must have reached) once a
        majority acknowledged an append sent after this call, and an entry of this term is committed."""
        if self.role != LEADER:
            return False
        if self.stale_reads:
            # Seeded bug: trust own leadership, answer from local state.
            self.confirmed_reads.append((tag, self.commit_index))
            return True
        self.pending_reads.append((tag, self.round + 1))
        for p in self.peers:
            self._send_append(p, now, heartbeat=True)
        self._check_reads()
        return True

    def step(self, msg: dict, now: float) -> None:
        """Handle one message from a peer."""
        kind, term, sender = msg["t"], msg["term"], msg["from"]
        if kind == "pv":
            self._on_pv(msg, now)  # a hypothetical term: must not move ours
            return
        if kind == "pv-r" and msg.get("granted"):
            self._on_pv_r(msg, now)  # carries the term it grants, one above ours: not a newer term
            return
        if term > self.term:
            self._become_follower(term, sender if kind in ("ae", "is") else None, now)
        elif term < self.term:
            # Tell a stale sender about the newer term so it steps down; replies to stale requests are dropped.
            if kind in ("rv", "ae", "is"):
                reply = {"rv": "rv-r", "ae": "ae-r", "is": "is-r"}[kind]
                self._send(sender, {"t": reply, "success": False, "granted": False, "round": msg.get("round", 0)},
                           after_persist=False)
            return
        handler = getattr(self, "_on_" + kind.replace("-", "_"))
        handler(msg, now)

    def compact(self, index: int, data: Any) -> None:
        """Take a snapshot: ``data`` is the state machine's state after applying ``index`` (<= last_applied)."""
        if index <= self.log.snapshot_index or index > self.last_applied:
            return
        self.log.compact(index, self.log.term_at(index))
        self.snapshot_data = data
        self.snapshot_dirty = True

    def on_persisted(self, last_index: int, last_term: int) -> None:
        """The driver wrote the log through ``last_index`` durably (the entry there had ``last_term``)."""
        if self.log.term_at(last_index) == last_term:
            self.durable_index = last_index
        if self.role == LEADER:
            self._maybe_advance_commit()

    def take_outbox(self) -> list[tuple[str, dict, bool]]:
        out, self.outbox = self.outbox, []
        return out

    def take_persist(self) -> dict | None:
        """What to write durably, or None. ``truncate_from``: delete log entries at or above it, then insert
        ``entries`` (index, term, command); ``snapshot``: (index, term, data), delete entries at or below it."""
        if not (self.hard_dirty or self.log_dirty_from is not None or self.snapshot_dirty):
            return None
        batch: dict = {"hard": None, "snapshot": None, "truncate_from": None, "entries": []}
        if self.hard_dirty:
            batch["hard"] = (self.term, self.voted_for)
        if self.snapshot_dirty:
            batch["snapshot"] = (self.log.snapshot_index, self.log.snapshot_term, self.snapshot_data)
        if self.log_dirty_from is not None:
            lo = max(self.log_dirty_from, self.log.snapshot_index + 1)
            batch["truncate_from"] = self.log_dirty_from
            batch["entries"] = [(i, e[0], e[1]) for i, e in
                                enumerate(self.log.slice(lo, self.log.last_index), start=lo)]
        batch["last"] = (self.log.last_index, self.log.last_term)
        self.hard_dirty = self.snapshot_dirty = False
        self.log_dirty_from = None
        return batch

    def take_committed(self) -> list[tuple[int, int, Any]]:
        """Entries (index, term, command) newly committed, in order; each is handed out once."""
        if self.last_applied >= self.commit_index:
            return []
        lo = self.last_applied + 1
        out = [(i, e[0], e[1]) for i, e in enumerate(self.log.slice(lo, self.commit_index), start=lo)]
        self.last_applied = self.commit_index
        return out

    def take_snapshot_to_restore(self) -> Any | None:
        """A snapshot installed by the leader that the state machine must load (before further entries)."""
        if not self.snapshot_to_restore:
            return None
        self.snapshot_to_restore = False
        return self.snapshot_data

    def take_confirmed_reads(self) -> list[tuple[Any, int]]:
        out, self.confirmed_reads = self.confirmed_reads, []
        return out

    def drop_pending_reads(self) -> list[Any]:
        tags = [t for t, _ in self.pending_reads]
        self.pending_reads = []
        return tags

    # ------------------------------------------------------------------------------------------- transitions

    def _election_timeout(self) -> float:
        return self.rng.uniform(*self.election_timeout)

    def _send(self, to: str, msg: dict, after_persist: bool) -> None:
        msg["term"] = self.term
        msg["from"] = self.id
        self.outbox.append((to, msg, after_persist))

    def _mark_log_dirty(self, index: int) -> None:
        if self.log_dirty_from is None or index < self.log_dirty_from:
            self.log_dirty_from = index
        if self.durable_index >= index:
            self.durable_index = index - 1

    def _become_follower(self, term: int, leader: str | None, now: float) -> None:
        if term > self.term:
            self.term, self.voted_for = term, None
            self.hard_dirty = True
        was_leader = self.role == LEADER
        self.role = FOLLOWER
        self.leader = leader
        if was_leader:
            self.pending_reads = []  # the driver notices the role change and fails its waiters
            self.election_deadline = now + self._election_timeout()

    def _start_pre_vote(self, now: float) -> None:
        """Ask for pre-votes for ``term + 1``; nothing durable changes (a refused pre-candidate stays harmless)."""
        self.role = PRECANDIDATE
        self.leader = None
        self.prevotes = {self.id}
        self.election_deadline = now + self._election_timeout()
        for p in self.peers:
            self.outbox.append((p, {"t": "pv", "term": self.term + 1, "from": self.id,
                                    "last_index": self.log.last_index, "last_term": self.log.last_term}, False))
        if len(self.prevotes) >= majority(self.cluster_size):
            self._start_election(now)

    def _start_election(self, now: float) -> None:
        self.term += 1
        self.role = CANDIDATE
        self.voted_for = self.id
        self.leader = None
        self.hard_dirty = True
        self.votes = {self.id}
        self.election_deadline = now + self._election_timeout()
        for p in self.peers:
            # after_persist: our own vote for ourselves must be durable before we ask for others'.
            self._send(p, {"t": "rv", "last_index": self.log.last_index, "last_term": self.log.last_term},
                       after_persist=True)
        if len(self.votes) >= majority(self.cluster_size):
            self._become_leader(now)

    def _become_leader(self, now: float) -> None:
        self.role = LEADER
        self.leader = self.id
        for p in self.peers:
            self.next_index[p] = self.log.last_index + 1
            self.match_index[p] = 0
            self.inflight_until[p] = 0.0
            self.acked_round[p] = 0
            self.last_heard[p] = now
        self.pending_reads = []
        if not self.commit_old_terms:
            # The no-op barrier: commits everything from earlier terms through an entry of this term (5.4.2),
            # and gives ReadIndex a current-term commit to wait for.
            self.propose(dict(NOOP), now)
        self.next_heartbeat = now
        self.replicate(now)

    def _send_append(self, peer: str, now: float, heartbeat: bool = False) -> None:
        """Send the next append (or snapshot) to ``peer``: at most one unanswered at a time, except that an
        overdue one is resent. ``heartbeat`` sends even when there is nothing new."""
        if now < self.inflight_until.get(peer, 0.0):
            return
        ni = self.next_index[peer]
        if ni <= self.log.snapshot_index:
            self.round += 1
            self._send(peer, {"t": "is", "index": self.log.snapshot_index, "last_term": self.log.snapshot_term,
                              "data": self.snapshot_data, "round": self.round}, after_persist=False)
            self.inflight_until[peer] = now + max(self.resend_after, 1.0)
            return
        hi = min(self.log.last_index, ni + self.max_batch - 1)
        if hi < ni and not heartbeat:
            return
        self.round += 1
        entries = self.log.slice(ni, hi) if hi >= ni else []
        # Leader appends may leave before the leader's own write (Raft 10.2.1): it counts itself only once
        # durable, and its term was made durable when it voted for itself.
        self._send(peer, {"t": "ae", "prev_index": ni - 1, "prev_term": self.log.term_at(ni - 1),
                          "entries": entries, "commit": self.commit_index, "round": self.round},
                   after_persist=False)
        self.inflight_until[peer] = now + self.resend_after

    def _maybe_advance_commit(self) -> None:
        matches = [min(self.durable_index, self.log.last_index)] + [self.match_index[p] for p in self.peers]
        new = advance_commit(self.log, matches, self.term, self.commit_index, self.commit_old_terms)
        if new > self.commit_index:
            self.commit_index = new
        self._check_reads()

    def _check_reads(self) -> None:
        if not self.pending_reads:
            return
        if not self.commit_old_terms and self.log.term_at(self.commit_index) != self.term:
            return  # no entry of this term committed yet: our commit index may lag the true one
        acked = sorted((self.acked_round[p] for p in self.peers), reverse=True)
        need = majority(self.cluster_size) - 1
        quorum_round = acked[need - 1] if need > 0 else self.round
        still = []
        for tag, rnd in self.pending_reads:
            if rnd <= quorum_round:
                self.confirmed_reads.append((tag, self.commit_index))
            else:
                still.append((tag, rnd))
        self.pending_reads = still

    # ------------------------------------------------------------------------------------------- handlers

    def _on_rv(self, msg: dict, now: float) -> None:
        granted = may_grant_vote(self.term, self.voted_for, msg["from"], msg["term"], msg["last_term"],
                                 msg["last_index"], self.log.last_term, self.log.last_index)
        if granted:
            self.voted_for = msg["from"]
            self.hard_dirty = True
            self.election_deadline = now + self._election_timeout()
        self._send(msg["from"], {"t": "rv-r", "granted": granted}, after_persist=True)

    def _on_pv(self, msg: dict, now: float) -> None:
        """Would I vote for this candidate in ``msg["term"]``? Not while I lead or still hear a live leader (my
        election timer has not run out), and only for a later term and an up-to-date log. Changes nothing."""
        # As etcd's lease check: the shortest election timeout since the leader was last heard, so the first node
        # whose (randomised) timer runs out after a leader died finds the others willing.
        hears_leader = self.role == LEADER or (self.leader is not None
                                               and now < self.leader_heard_at + self.election_timeout[0])
        granted = (not hears_leader and msg["term"] > self.term
                   and log_up_to_date(msg["last_term"], msg["last_index"], self.log.last_term, self.log.last_index))
        reply = {"t": "pv-r", "term": msg["term"] if granted else self.term, "from": self.id, "granted": granted}
        self.outbox.append((msg["from"], reply, False))

    def _on_pv_r(self, msg: dict, now: float) -> None:
        if self.role != PRECANDIDATE or msg["term"] != self.term + 1:
            return  # a late answer to an earlier round
        self.prevotes.add(msg["from"])
        if len(self.prevotes) >= majority(self.cluster_size):
            self._start_election(now)

    def _on_rv_r(self, msg: dict, now: float) -> None:
        if self.role != CANDIDATE or not msg.get("granted"):
            return
        self.votes.add(msg["from"])
        if len(self.votes) >= majority(self.cluster_size):
            self._become_leader(now)

    def _on_ae(self, msg: dict, now: float) -> None:
        sender = msg["from"]
        if self.role != FOLLOWER or self.leader != sender:
            self._become_follower(self.term, sender, now)
        self.election_deadline = now + self._election_timeout()
        self.leader_heard_at = now
        prev, prev_term, entries = msg["prev_index"], msg["prev_term"], msg["entries"]
        reply = {"t": "ae-r", "round": msg["round"]}
        snap = self.log.snapshot_index
        if prev < snap:
            # Entries at or below our snapshot are committed, hence equal to the leader's: skip them.
            entries = entries[snap - prev:]
            prev, prev_term = snap, self.log.snapshot_term
        if self.log.term_at(prev) != prev_term:
            if prev > self.log.last_index:
                hint = {"conflict_index": self.log.last_index + 1, "conflict_term": None}
            else:
                hint = {"conflict_index": self.log.first_index_of_term_at(prev),
                        "conflict_term": self.log.term_at(prev)}
            self._send(sender, {**reply, "success": False, **hint}, after_persist=True)
            return
        for k, e in enumerate(entries):
            index = prev + 1 + k
            have = self.log.term_at(index)
            if have == e[0]:
                continue  # already there (a resent or reordered append must not truncate anything)
            if have is not None:
                if index <= self.commit_index:
                    # Impossible in correct Raft; the seeded bugs get here. Count it (status shows it) and
                    # follow the leader anyway, so the damage shows in the history rather than as a crash.
                    self.safety_violations += 1
                self.log.truncate_from(index)
            for e2 in entries[k:]:
                self.log.append(e2[0], e2[1])
            self._mark_log_dirty(index)
            break
        match = prev + len(entries)
        if msg["commit"] > self.commit_index:
            self.commit_index = max(self.commit_index, min(msg["commit"], match))
        self._send(sender, {**reply, "success": True, "match": match}, after_persist=True)

    def _on_ae_r(self, msg: dict, now: float) -> None:
        if self.role != LEADER:
            return
        p = msg["from"]
        self.last_heard[p] = now
        self.inflight_until[p] = 0.0
        if msg.get("round", 0) > self.acked_round[p]:
            self.acked_round[p] = msg["round"]
        if msg.get("success"):
            m = msg["match"]
            if m > self.match_index[p]:
                self.match_index[p] = m
            self.next_index[p] = max(self.next_index[p], self.match_index[p] + 1)
            self._maybe_advance_commit()
        else:
            ct = msg.get("conflict_term")
            nxt = msg.get("conflict_index", self.next_index[p] - 1)
            if ct is not None:
                li = self.log.last_index_of_term(ct)
                if li is not None:
                    nxt = li + 1
            self.next_index[p] = max(self.match_index[p] + 1, min(nxt, self.log.last_index + 1), 1)
            self._check_reads()
        pending_round = any(rnd > self.acked_round[p] for _, rnd in self.pending_reads)
        self._send_append(p, now, heartbeat=pending_round)

    def _on_is(self, msg: dict, now: float) -> None:
        sender = msg["from"]
        if self.role != FOLLOWER or self.leader != sender:
            self._become_follower(self.term, sender, now)
        self.election_deadline = now + self._election_timeout()
        self.leader_heard_at = now
        index, term = msg["index"], msg["last_term"]
        if index > self.commit_index:
            if self.log.term_at(index) == term:
                self.log.compact(index, term)          # keep the suffix that agrees
            else:
                self.log = Log(index, term, [])        # our log disagrees or is short: drop it whole
                self._mark_log_dirty(index + 1)
            self.snapshot_data = msg["data"]
            self.snapshot_dirty = True
            self.commit_index = index
            if self.last_applied < index:
                self.last_applied = index
                self.snapshot_to_restore = True
            self.durable_index = min(self.durable_index, index)
        self._send(sender, {"t": "is-r", "success": True, "match": max(index, 0), "round": msg["round"]},
                   after_persist=True)

    def _on_is_r(self, msg: dict, now: float) -> None:
        self._on_ae_r(msg, now)
