"""Latency quantiles per op type, computed with pandas.

Contract: only ops that completed are measured (an op with no completion has no latency); ``fail`` and ``info``
are kept apart from ``ok`` because a timeout's latency is the client's timeout, not the system's speed.
"""

from __future__ import annotations

import pandas as pd

from splitbrain.history.ops import Pair

QUANTILES = (0.5, 0.95, 0.99)


def latency_frame(pairs: list[Pair]) -> pd.DataFrame:
    """One row per completed client op: f, type, latency in milliseconds."""
    rows = [(p.invoke.f, p.complete.type, (p.complete.time - p.invoke.time) / 1e6)
            for p in pairs if p.complete is not None]
    return pd.DataFrame(rows, columns=["f", "type", "latency_ms"])


def quantile_table(pairs: list[Pair]) -> list[dict]:
    """Rows ``{"f", "type", "count", "p50", "p95", "p99", "max"}`` (milliseconds), sorted by f then ok/fail/info,
    plus one ``all`` row per f when it has more than one outcome. Empty when nothing completed."""
    df = latency_frame(pairs)
    if df.empty:
        return []
    order = {"ok": 0, "fail": 1, "info": 2}

    def summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        g = frame.groupby(keys, sort=False)["latency_ms"]
        q = g.quantile(list(QUANTILES)).unstack()
        q.columns = [f"p{int(round(c * 100))}" for c in q.columns]
        return q.join(g.count().rename("count")).join(g.max().rename("max")).reset_index()

    by_type = summarise(df, ["f", "type"])
    by_f = summarise(df, ["f"]).assign(type="all")
    multi = df.groupby("f")["type"].nunique()
    by_f = by_f[by_f["f"].map(multi) > 1]
    table = pd.concat([by_type, by_f], ignore_index=True)
    table["_order"] = table["type"].map(lambda t: order.get(t, 3))
    table = table.sort_values(["f", "_order"]).drop(columns="_order")
    return [{"f": r.f, "type": r.type, "count": int(r.count), "p50": r.p50, "p95": r.p95, "p99": r.p99,
             "max": r.max} for r in table.itertuples(index=False)]
