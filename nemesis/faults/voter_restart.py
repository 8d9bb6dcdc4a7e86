"""The voter-restart fault: an election frozen half-way, its voter restarted, and the rest of the cluster electing
again in the same term. A script of named steps steered by what the nodes say about their role and term (the
view's ``roles``); every step lands in the completion's ``steps``, which the report draws on the fault's bar."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from splitbrain.harness.api import Invocation, ReportsRoles
from splitbrain.history.errors import BadInput
from splitbrain.nemesis import appliers
from splitbrain.nemesis.faults.base import RESTART, Fault, StepLog, plan_of
from splitbrain.nemesis.faults.process import KillFault
from splitbrain.nemesis.grudge import normalize

if TYPE_CHECKING:
    from splitbrain.harness.hosts.cluster import Cluster
    from splitbrain.nemesis.faults.view import SystemView


def _check_odd_cluster(count: int) -> None:
    if count < 3 or count % 2 == 0:
        raise BadInput(f"voter-restart needs an odd number of nodes, at least 3 (got {count})", "--nodes")


def leaders(seen: dict) -> dict:
    """Pure: ``{node: term}`` of the nodes that say they lead, from a roles answer."""
    return {n: v.get("term") for n, v in sorted(seen.items()) if v.get("role") == "leader"}


@dataclass(frozen=True)
class VoterRestartFault(Fault):
    """A vote given, then forgotten: an election is frozen half-way, its voter restarted, and the rest of the
    cluster elects again in the same term. Made of pause, partition, kill and restart, steered by what the nodes say
    about their own role and term (a system with ``ReportsRoles``: the view then answers ``roles``).

    For ``2m-1`` nodes (``m`` a majority): ``B`` is the leader when applied; of the others, the plan's ``pick``
    chooses the voter ``V``, the candidate ``A``, and ``m-2`` helpers for each of ``A`` and ``B``. The steps (their
    names as recorded):

    * ``leader-found``: wait (``candidate_wait``) for a leader ``B`` of term ``T0``;
    * ``paused-and-cut``: pause ``B`` and its helpers (the leader stops sending, so the followers' logs settle
      alike), then ``V`` and ``A``'s helpers; cut ``A`` from ``B``'s side and ``B`` from ``A``'s (both ways);
    * ``candidate-muted``: wait (``candidate_wait``) until ``A``, alone running, says it is a candidate of a later
      term ``Ta``: its vote requests wait in the paused nodes' sockets. Then nobody hears ``A`` any more (one way:
      ``A`` still gets replies, the others drop its packets, so it can win but reach no one as leader);
    * ``candidate-leads``: resume ``V`` and ``A``'s helpers; wait (``vote_wait``) until ``A`` says it leads ``Ta``;
    * ``voter-and-leader-restarted``: kill and restart ``V`` and ``B`` (``B`` comes back a follower);
    * ``second-leader``: resume ``B``'s helpers; wait (``second_wait``) for a leader among them. If ``V`` kept its
      vote across the restart, that leader's term is later than ``Ta``; if it forgot, it leads ``Ta`` too (Raft's
      Election Safety broken).

    Made for 3 nodes. It runs on any odd cluster, but on 5 a test run completed 1 try in 7 and that one's second
    election went past ``Ta`` (three nodes must agree there, and the old leader's longer log refuses the helper).

    Why one way and not a pause of ``A``: a paused process, when resumed, runs its expired timers before it reads
    what arrived meanwhile (measured with asyncio), so a paused candidate starts a new election instead of counting
    the votes that wait for it.

    A step that does not happen in time ends the try (its record says ``stopped``, and so does the try's; not an
    error: a resumed voter whose election timer ran out stands itself first, and a busy cluster may refuse the
    vote); the fault then undoes it and tries again with the parts moved round, up to ``attempts`` times. The
    completion has every try (``attempts``: its parts, ``term``, ``stopped``, the roles at the end) and every step
    (``steps``: ``step``, ``try``, ``at`` in seconds since apply began, what it saw). Stop heals the partition,
    resumes and restarts everything.
    Must not: leave a node paused, down or cut off after stop/heal; start a try after ``budget`` seconds, or after
    the run's client load has ended (the view's ``time_left``: the run waits for the fault), except the first (a
    try lasts at most the sum of the waits plus a few seconds of restarts)."""

    name: str = "voter-restart"
    candidate_wait: float = 4.0
    vote_wait: float = 2.0
    restart_wait: float = 5.0
    second_wait: float = 6.0
    settle: float = 0.02
    poll: float = 0.005
    attempts: int = 6
    budget: float = 20.0
    heal_rank = RESTART

    def check_nodes(self, count: int) -> None:
        _check_odd_cluster(count)

    def check_system(self, system: Any) -> None:
        if not isinstance(system, ReportsRoles):
            raise BadInput(f"the {self.name} fault steers by the nodes' roles, and {system.name} does not report "
                           "them (the ReportsRoles capability)", "--nemesis")

    def start_op(self, rng: random.Random, nodes: Sequence[str], leader: str | None = None) -> Invocation:
        return Invocation(f"start-{self.name}", {"pick": round(rng.random(), 6)})

    def stop_op(self, rng=None, nodes=(), leader=None, started=None) -> Invocation:
        return Invocation(f"stop-{self.name}", {"nodes": None})

    @staticmethod
    def roles_of(nodes: Sequence[str], leader: str, pick: float) -> dict:
        """Pure: {"leader", "voter", "candidate", "candidate_helpers", "leader_helpers"} from the nodes, the
        leader, and ``pick`` in [0, 1) (which of the others plays which part)."""
        _check_odd_cluster(len(nodes))
        others = sorted(n for n in nodes if n != leader)
        k = int(pick * len(others)) % len(others)
        others = others[k:] + others[:k]
        helpers = (len(nodes) + 1) // 2 - 2
        return {"leader": leader, "voter": others[0], "candidate": others[1],
                "candidate_helpers": others[2:2 + helpers], "leader_helpers": others[2 + helpers:]}

    @staticmethod
    def first_grudge(parts: dict) -> dict:
        """Pure: the candidate cut from the leader's side, the leader cut from the candidate's (both ways); the
        voter still reaches everyone."""
        a, b = parts["candidate"], parts["leader"]
        cut: dict[str, set[str]] = {}
        for x, ys in ((a, [b, *parts["leader_helpers"]]), (b, [a, *parts["candidate_helpers"]])):
            for y in ys:
                cut.setdefault(x, set()).add(y)
                cut.setdefault(y, set()).add(x)
        return normalize(cut)

    def carry_out(self, cluster: "Cluster", inv: Invocation, view: "SystemView | None" = None) -> Any:
        if inv.f != f"start-{self.name}":
            return self.heal(cluster)
        if view is None or view.roles(cluster.nodes) is None:
            raise BadInput("voter-restart steers by the nodes' roles: it runs only under `splitbrain run` with a "
                           "system that reports them (ReportsRoles)", "nemesis plan")
        plan = plan_of(inv, dict, "an object with pick")
        try:
            pick = float(plan.get("pick", 0.0))
        except (TypeError, ValueError) as e:
            raise BadInput(f"malformed voter-restart plan {plan!r} ({e})", "nemesis plan") from None
        return _Script(self, cluster, view).run(pick)

    @staticmethod
    def _restart(cluster: "Cluster", nodes: Sequence[str]) -> list[str]:
        return KillFault()._stop(cluster, list(nodes))["restarted"]

    def heal(self, cluster: "Cluster") -> Any:
        resumed = [n for n in cluster.nodes if cluster.is_paused(n)]
        for n in cluster.nodes:
            cluster.resume(n)  # every running node: harmless if it was not paused
        return {"resumed": resumed, "partition": appliers.heal_partition(cluster),
                "restarted": self._restart(cluster, cluster.nodes)}


@dataclass
class _Try:
    """What one try knows so far: the parts (once a leader is found), the terms, the grudge in force."""
    pick: float
    parts: dict = field(default_factory=dict)
    term0: int | None = None
    term_a: int | None = None
    grudge: dict = field(default_factory=dict)


#: A step: the try so far -> (what to record, why the try stops here or None to go on).
Step = Callable[["_Script", _Try], "tuple[dict, str | None]"]


class _Script:
    """One application of the fault: its tries, each the steps of :data:`STEPS` in order, every step recorded
    with the seconds since apply began. Runs on the nemesis worker's thread (its sleeps block only that)."""

    def __init__(self, fault: VoterRestartFault, cluster: "Cluster", view: "SystemView"):
        self.fault, self.cluster, self.view = fault, cluster, view
        self.log = StepLog()

    def roles(self, nodes: Sequence[str]) -> dict:
        return self.view.roles(list(nodes)) or {}

    def wait_for(self, nodes: Sequence[str], cond: Callable[[dict], bool], seconds: float) -> dict | None:
        """The first roles answer of ``nodes`` that satisfies ``cond`` within ``seconds``, or None."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            seen = self.roles(nodes)
            if cond(seen):
                return seen
            time.sleep(self.fault.poll)  # the controller's thread, not a node
        return None

    # -- the steps ---------------------------------------------------------------------------------------------

    def leader_found(self, t: _Try) -> tuple[dict, str | None]:
        seen = self.wait_for(self.cluster.nodes, lambda r: bool(leaders(r)), self.fault.candidate_wait)
        if seen is None:
            return {}, "no leader to start from"
        lead = leaders(seen)
        b = max(lead, key=lambda n: lead[n] or 0)
        t.term0 = lead[b]
        t.parts = self.fault.roles_of(self.cluster.nodes, b, t.pick)
        return {"node": b, "term": t.term0}, None

    def paused_and_cut(self, t: _Try) -> tuple[dict, str | None]:
        p, c = t.parts, self.cluster
        for n in [p["leader"], *p["leader_helpers"]]:
            c.pause(n)
        time.sleep(self.fault.settle)  # appends already sent land on both followers alike
        for n in [p["voter"], *p["candidate_helpers"]]:
            c.pause(n)
        t.grudge = self.fault.first_grudge(p)
        appliers.apply_partition(c, t.grudge)
        return {"term": t.term0, "grudge": t.grudge}, None

    def candidate_muted(self, t: _Try) -> tuple[dict, str | None]:
        a = t.parts["candidate"]
        seen = self.wait_for([a], lambda r: (r.get(a) or {}).get("role") == "candidate"
                             and ((r.get(a) or {}).get("term") or 0) > (t.term0 or 0), self.fault.candidate_wait)
        if seen is None:
            return {"node": a}, f"{a} did not stand for election"
        t.term_a = seen[a]["term"]
        time.sleep(self.fault.settle)  # its vote requests reach the paused nodes' sockets
        # One way: from now on nobody hears A, while A still hears its voters (their replies arrive; only A's
        # acknowledgements are lost). So A can win, and nothing it sends as leader reaches the voter.
        muted = normalize({n: [*t.grudge.get(n, ()), a] for n in self.cluster.nodes})
        # Only the nodes whose rules change: the voter's election timer is running out while it is paused.
        appliers.apply_partition(self.cluster, muted, only=[n for n in muted if muted[n] != t.grudge.get(n)])
        t.grudge = muted
        return {"node": a, "term": t.term_a, "grudge": muted}, None

    def candidate_leads(self, t: _Try) -> tuple[dict, str | None]:
        a, v = t.parts["candidate"], t.parts["voter"]
        for n in [v, *t.parts["candidate_helpers"]]:
            self.cluster.resume(n)
        seen = self.wait_for([a, v], lambda r: (r.get(a) or {}).get("role") == "leader"
                             and (r.get(a) or {}).get("term") == t.term_a, self.fault.vote_wait)
        if seen is None:
            return {"node": a, "term": t.term_a}, f"{a} did not win term {t.term_a}"
        return {"node": a, "term": t.term_a, "voter_term": (seen.get(v) or {}).get("term")}, None

    def voter_and_leader_restarted(self, t: _Try) -> tuple[dict, str | None]:
        v, b = t.parts["voter"], t.parts["leader"]
        for n in (v, b):
            self.cluster.kill(n)
        self.fault._restart(self.cluster, [v, b])
        up = self.wait_for([v, b], lambda r: v in r and b in r, self.fault.restart_wait) is not None
        return {"nodes": [v, b], "answering": up}, None

    def second_leader(self, t: _Try) -> tuple[dict, str | None]:
        for n in t.parts["leader_helpers"]:
            self.cluster.resume(n)
        a_side = [t.parts["candidate"], *t.parts["candidate_helpers"]]
        rest = [n for n in self.cluster.nodes if n not in a_side]
        seen = self.wait_for(rest, lambda r: bool(leaders(r)), self.fault.second_wait)
        if seen is None:
            return {}, "no second leader"
        return {"leaders": leaders(seen)}, None

    STEPS: tuple[tuple[str, Step], ...] = (
        ("leader-found", leader_found),
        ("paused-and-cut", paused_and_cut),
        ("candidate-muted", candidate_muted),
        ("candidate-leads", candidate_leads),
        ("voter-and-leader-restarted", voter_and_leader_restarted),
        ("second-leader", second_leader),
    )

    # -- the tries ---------------------------------------------------------------------------------------------

    def run(self, pick: float) -> dict:
        """Every try until one gets as far as a second leader (or the tries or the budget run out)."""
        out: dict[str, Any] = {"began": round(time.time(), 3), "attempts": [], "steps": self.log.steps}
        f = self.fault
        time_left = getattr(self.view, "time_left", None)  # a view of an older plugin may not have it
        left = time_left() if time_left is not None else None
        budget = f.budget if left is None else min(f.budget, max(left, 0.0))
        for k in range(f.attempts):
            # k > 0: the first try always runs, even when applied right at the end of the run
            if k > 0 and time.monotonic() - self.log.began > budget:
                out["stopped"] = f"out of time after {k} tries" + ("" if budget == f.budget else
                                                                  " (the run's load ended)")
                return out
            record: dict[str, Any] = {}
            out["attempts"].append(record)
            stopped = self.attempt(k, _Try((pick + k / f.attempts) % 1.0), record)
            if stopped is None:
                record["roles"] = self.roles(self.cluster.nodes)
                break
            record["stopped"] = stopped
            # Undo this try before the next: the vote may go the other way (a resumed voter whose election timer
            # ran out during its pause stands itself before it reads the waiting request).
            f.heal(self.cluster)
        else:
            out["stopped"] = f"no try got a second leader ({f.attempts} tries)"
        return out

    def attempt(self, k: int, t: _Try, record: dict) -> str | None:
        """Try ``k``: its steps in order, each recorded; None when all ran, else why it stopped."""
        for name, step in self.STEPS:
            info, stopped = step(self, t)
            record.update(t.parts)
            if t.term_a is not None:
                record["term"] = t.term_a
            self.log.record(name, **{"try": k}, **info, **({"stopped": stopped} if stopped else {}))
            if stopped:
                return stopped
        return None
