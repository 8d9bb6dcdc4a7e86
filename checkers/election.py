"""Election safety (Raft's first guarantee): at most one leader per term.

Input: the leader claims the runner observed while polling every node's own view (``annotations.jsonl`` lines
``{"time", "kind": "leader-claim", "node", "term"}``). Two different nodes claiming leadership of the same term is a
violation whatever the clients saw; observations are samples, so ``valid: true`` means "no violation seen".
"""

from __future__ import annotations

from typing import Iterable

from splitbrain.history.verdict import UNKNOWN


def check_election_safety(claims: Iterable[dict]) -> dict:
    by_term: dict[int, dict[str, int]] = {}
    n = 0
    for c in claims:
        if c.get("kind") != "leader-claim" or c.get("term") is None or c.get("node") is None:
            continue
        n += 1
        by_term.setdefault(c["term"], {}).setdefault(c["node"], c.get("time", 0))
    violations = [{"term": term, "leaders": sorted(nodes), "first_seen": nodes}
                  for term, nodes in sorted(by_term.items()) if len(nodes) > 1]
    out = {"valid": not violations if n else UNKNOWN, "checker": "election", "claims": n,
           "terms": len(by_term), "violations": violations[:20]}
    if not n:
        out["cause"] = "no leader claims were observed"
    if violations:
        v = violations[0]
        out["explanation"] = (f"{len(violations)} term(s) had two leaders; in term {v['term']} nodes "
                              f"{', '.join(v['leaders'])} each claimed leadership.")
    return out
