"""SQL over the store's rollup tables (schema v4, see `agent.store.rollups`): the same
questions as `store_sql`, with the same answers, from the hour tables for the whole hours
of a range and the minute tables for its edges (or for all of it, when its time buckets
are shorter than an hour).
"""

from __future__ import annotations

from agent.store import rollups
from dashboards.data import api

HOUR = rollups.RESOLUTIONS["hour"]

# total(): 0.0 over no rows (the caller drops rows without requests, and types counts).
MEASURES_SQL = ", ".join(f"total({m}) AS {m}" for m in api.MEASURES)
_DIMENSION = {d: d for d in api.DIMENSIONS} | {
    "stream": "CASE stream WHEN 0 THEN 'false' ELSE 'true' END"
}


def dimension(name: str) -> str:
    """The SQL expression of a `DIMENSIONS` value over a rollup table."""
    if name not in _DIMENSION:
        raise ValueError(f"unknown dimension {name!r}; one of {', '.join(api.DIMENSIONS)}")
    return _DIMENSION[name]


def _spans(f: api.Filters, step_s: int | None) -> list[tuple[str, float, float]]:
    """(resolution, start, end) pieces covering the range: whole hours from the hour
    table when the buckets allow it, the rest from the minute table."""
    first = -(-f.start // HOUR) * HOUR
    last = f.end // HOUR * HOUR
    if (step_s and step_s % HOUR) or first >= last:
        return [("minute", f.start, f.end)]
    pieces = [("minute", f.start, first), ("hour", first, last), ("minute", last, f.end)]
    return [p for p in pieces if p[1] < p[2]]


def _union(table: str, f: api.Filters, step_s: int | None, filtered: bool = True):
    """A subquery over `{table}_{resolution}` pieces of the range, and its parameters."""
    parts: list[str] = []
    params: list[float | str] = []
    for res, start, end in _spans(f, step_s):
        clause = "t >= ? AND t < ?"
        params += [start, end]
        if filtered:
            for column, values in (("model", f.models), ("tenant", f.tenants)):
                if values:
                    clause += f" AND {column} IN ({', '.join('?' * len(values))})"
                    params += values
        parts.append(f"SELECT * FROM {table}_{res} WHERE {clause}")  # noqa: S608
    return "(" + " UNION ALL ".join(parts) + ")", params


def _bucket(step_s: int) -> str:
    return f"t / {int(step_s)} * {int(step_s)}"


def values(name: str, f: api.Filters) -> tuple[str, list]:
    """Distinct values of a dimension in the range."""
    source, params = _union("rollup", f, None, filtered=False)
    return f"SELECT DISTINCT {dimension(name)} FROM {source}", params  # noqa: S608


def totals(f: api.Filters, by: str | None, step_s: int | None) -> tuple[str, list]:
    """`MEASURES` grouped by bucket `t` (with `step_s`) and `key` (with `by`)."""
    source, params = _union("rollup", f, step_s)
    cols, groups = [], []
    if step_s:
        cols.append(f"{_bucket(step_s)} AS t")
        groups.append(f"{_bucket(step_s)}")
    if by:
        cols.append(f"{dimension(by)} AS key")
        groups.append("key")
    group = f"GROUP BY {', '.join(groups)}" if groups else ""
    return f"SELECT {', '.join([*cols, MEASURES_SQL])} FROM {source} {group}", params  # noqa: S608


def bins(f: api.Filters, metric: str, step_s: int | None) -> tuple[str, list]:
    """Counts per log bin `b` of a metric (per bucket `t` with `step_s`)."""
    if metric not in rollups.METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(api.DISTRIBUTIONS)}")
    source, params = _union("hist", f, step_s)
    t = f"{_bucket(step_s)} AS t, " if step_s else ""
    group = f"{_bucket(step_s)}, bin" if step_s else "bin"
    sql = f"SELECT {t}bin, sum(n) FROM {source} WHERE metric = ? GROUP BY {group}"  # noqa: S608
    return sql, [*params, rollups.METRICS.index(metric)]


def safety(f: api.Filters, step_s: int | None) -> tuple[str, list]:
    """Hits per filter, direction, action and tenant (and bucket `t`)."""
    source, params = _union("safety", f, step_s)
    keys = "filter, direction, action, tenant"
    t, group = (f"{_bucket(step_s)} AS t, ", f"{_bucket(step_s)}, {keys}") if step_s else ("", keys)
    sql = f"SELECT {t}{keys}, sum(hits) FROM {source} GROUP BY {group}"  # noqa: S608
    return sql, params
