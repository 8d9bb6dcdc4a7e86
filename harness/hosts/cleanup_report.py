"""What a cleanup did and what it left behind: shared by the local cleanup (:mod:`splitbrain.harness.hosts.cleanup`) and
the SSH one (:mod:`splitbrain.harness.hosts.ssh_cluster`) without either importing the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from splitbrain.history.errors import ClusterError


@dataclass
class CleanupReport:
    run_id: str
    killed: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped_reason: str | None = None
    problems: list[str] = field(default_factory=list)


def raise_on_problems(reports: list[CleanupReport]) -> None:
    """ClusterError naming every problem of ``reports``; nothing if they are all clean."""
    problems = [f"{r.run_id}: {p}" for r in reports for p in r.problems]
    if problems:
        raise ClusterError("cleanup left something behind: " + "; ".join(problems))
