"""SQL over the store's raw `requests` table: the answers for a store without rollups
(from an older inferwatch), and the reference the rollup answers are tested against.

Every aggregation runs in SQLite (GROUP BY); Python only reads off quantiles from the
few log-bin rows a query returns.
"""

from __future__ import annotations

from agent.store import rollups
from dashboards.data import api

# Missing values (no error type, no finish reason) are "" in keys.
DIMENSION_SQL = {
    "tenant": "tenant",
    "model": "model",
    "operation": "operation",
    "status": "status",
    "finish_reason": "coalesce(json_extract(record, '$.finish_reason'), '')",
    "error_type": "coalesce(error_type, '')",
    "stream": "CASE stream WHEN 0 THEN 'false' ELSE 'true' END",
}

_TPOT = rollups.TPOT_SQL
METRIC_SQL = {"latency": "latency_s", "ttft": "ttft_s", "tpot": _TPOT, "cost": "cost_amount"}

MEASURES_SQL = """
    count(*) AS requests,
    total(status != 'ok') AS errors,
    total(prompt_tokens) AS input_tokens,
    total(completion_tokens) AS output_tokens,
    total(cost_amount) AS cost,
    count(cost_amount) AS costed,
    total(cost_device_seconds) AS device_seconds,
    total(cost_joules) AS joules,
    total(safety_hits) AS safety_hits,
    total(latency_s) AS latency_sum,
    total(ttft_s) AS ttft_sum,
    count(ttft_s) AS ttft_count
"""

REQUEST_SQL = f"""
    request_id, wall_time, tenant, model, operation, status, http_status, error_type,
    stream, json_extract(record, '$.finish_reason') AS finish_reason, prompt_tokens,
    completion_tokens, latency_s, ttft_s, {_TPOT} AS tpot_s, cost_amount, cost_currency,
    safety_hits
"""

ORDER_SQL = {
    "newest": "wall_time DESC, id DESC",
    "cost": "cost_amount DESC, wall_time DESC, id DESC",  # the index order: no sort
    "latency": "latency_s DESC, wall_time DESC, id DESC",
}


def where(f: api.Filters, filtered: bool = True) -> tuple[str, list]:
    """The WHERE clause (time range, and the model/tenant filter when `filtered`)."""
    clauses = ["wall_time >= ?", "wall_time < ?"]
    params: list[float | str] = [f.start, f.end]
    if filtered:
        for column, values in (("model", f.models), ("tenant", f.tenants)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += values
    return " AND ".join(clauses), params


def bucket(step_s: int) -> str:
    """Start of the `step_s` bucket of a row (wall times are positive: CAST floors)."""
    return f"CAST(wall_time / {int(step_s)} AS INTEGER) * {int(step_s)}"


def dimension(name: str) -> str:
    """The SQL expression of a `DIMENSIONS` value."""
    if name not in DIMENSION_SQL:
        raise ValueError(f"unknown dimension {name!r}; one of {', '.join(api.DIMENSIONS)}")
    return DIMENSION_SQL[name]


def metric(name: str) -> str:
    """The SQL expression of a `DISTRIBUTIONS` value (NULL where it has none)."""
    if name not in METRIC_SQL:
        raise ValueError(f"unknown metric {name!r}; one of {', '.join(api.DISTRIBUTIONS)}")
    return METRIC_SQL[name]


def values(name: str, f: api.Filters) -> tuple[str, list]:
    """Distinct values of a dimension in the range (its model/tenant filter ignored)."""
    w, params = where(f, filtered=False)
    return f"SELECT DISTINCT {dimension(name)} FROM requests WHERE {w}", params  # noqa: S608


def totals(f: api.Filters, by: str | None, step_s: int | None) -> tuple[str, list]:
    """`MEASURES` grouped by bucket `t` (with `step_s`) and `key` (with `by`)."""
    w, params = where(f)
    cols, groups = [], []
    if step_s:
        cols.append(f"{bucket(step_s)} AS t")
        groups.append("t")
    if by:
        cols.append(f"{dimension(by)} AS key")
        groups.append("key")
    group = f"GROUP BY {', '.join(groups)}" if groups else ""
    select = ", ".join([*cols, MEASURES_SQL])
    return f"SELECT {select} FROM requests WHERE {w} {group}", params  # noqa: S608


def bins(f: api.Filters, name: str, step_s: int | None) -> tuple[str, list]:
    """Counts per log bin `b` of a metric (per bucket `t` with `step_s`); needs the
    `bin_of` function registered on the connection."""
    w, params = where(f)
    expr = metric(name)
    t = f"{bucket(step_s)} AS t, " if step_s else ""
    group = "t, b" if step_s else "b"
    sql = (
        f"SELECT {t}bin_of(v) AS b, count(*) AS n FROM "  # noqa: S608
        f"(SELECT wall_time, {expr} AS v FROM requests WHERE {w}) "
        f"WHERE v IS NOT NULL GROUP BY {group}"
    )
    return sql, params


def safety(f: api.Filters, step_s: int | None) -> tuple[str, list]:
    """Hits per filter, direction, action and tenant (and bucket `t`), from the verdicts
    in the stored records."""
    w, params = where(f)
    t = f"{bucket(step_s)} AS t, " if step_s else ""
    keys = "filter, direction, action, tenant" + (", t" if step_s else "")
    sql = (
        f"SELECT {t}json_extract(j.value, '$.filter') AS filter, "  # noqa: S608
        "json_extract(j.value, '$.direction') AS direction, "
        "json_extract(j.value, '$.action') AS action, tenant, "
        "sum(json_extract(j.value, '$.count')) AS hits "
        "FROM requests, json_each(requests.record, '$.safety') AS j "
        f"WHERE {w} AND safety_hits > 0 GROUP BY {keys}"
    )
    return sql, params


def requests(
    f: api.Filters, statuses: tuple[str, ...], order: str, limit: int, walk: bool = False
) -> tuple[str, list]:
    """At most `limit` rows of `REQUEST_COLUMNS`, in `order`. `walk`: read the order's index
    from the top, keeping the rows in range (the wall-time index left unused), instead of
    sorting every row of the range: faster when the range holds most rows."""
    if order not in ORDER_SQL:
        raise ValueError(f"unknown order {order!r}; one of {', '.join(ORDER_SQL)}")
    w, params = where(f)
    if walk:
        w = "+" + w  # unary plus: not the wall_time index
    if statuses:
        w += f" AND status IN ({', '.join('?' * len(statuses))})"
        params += list(statuses)
    sql = f"SELECT {REQUEST_SQL} FROM requests WHERE {w} ORDER BY {ORDER_SQL[order]} LIMIT ?"  # noqa: S608
    return sql, [*params, int(limit)]
