"""Safety-filter hits by filter, direction, action and tenant from request-log documents.

The agent's documents keep a request's verdicts only as totals and sets
(`inferwatch.safety.hits`, and sorted `filters`, `directions`, `actions` arrays:
`agent.shipping.ecs._safety`), not as nested objects, so which filter had how many hits
is known only for a request whose arrays each hold one value (one verdict, or several of
the same kind). Those are counted exactly, by nested terms. A request with several kinds
of verdict (rare) cannot be split without a `nested` mapping of the verdicts: its hits
are shown whole under filter, direction and action `SEVERAL`, never counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import combinations

import pandas as pd

from dashboards.data.es_frames import key_of, timed

SAFETY = "inferwatch.safety"
SEVERAL = "(several)"
_LEVELS = (("filter", "filters"), ("direction", "directions"), ("action", "actions"))
COLUMNS = ("filter", "direction", "action", "tenant", "hits")


def has_hits() -> dict:
    """The query clause of documents with a safety hit."""
    return {"range": {f"{SAFETY}.hits": {"gt": 0}}}


def leaf(step_s: int | None, time_buckets: Callable[[int, dict], dict]) -> dict:
    """Per tenant (and time bucket): the hits, and how many values each array holds
    (equal to the documents only when every array has one value)."""
    inner: dict = {"h": {"sum": {"field": f"{SAFETY}.hits"}}}
    for _, name in _LEVELS:
        inner["n_" + name] = {"value_count": {"field": f"{SAFETY}.{name}"}}
    if step_s:
        inner = time_buckets(step_s, inner)
    return {"u": {"terms": {"field": "user.id", "size": 10_000}, "aggs": inner}}


def nested(sub: dict) -> dict:
    """filters -> directions -> actions terms around `sub`."""
    for _, name in reversed(_LEVELS):
        sub = {name: {"terms": {"field": f"{SAFETY}.{name}", "size": 10_000}, "aggs": sub}}
    return sub


def rows(aggs: dict, step_s: int | None) -> tuple[list[dict], bool]:
    """Rows of a `nested(leaf(...))` answer, and whether every one was exact."""
    out, exact = [], True
    for path, bucket in _walk(aggs, 0, {}):
        for row, b in _leaves(bucket, step_s):
            exact &= all(b["n_" + name]["value"] == b["doc_count"] for _, name in _LEVELS)
            out.append(path | row)
    return out, exact


def _walk(aggs: dict, level: int, path: dict) -> Iterator[tuple[dict, dict]]:
    if level == len(_LEVELS):
        yield path, aggs
        return
    column, name = _LEVELS[level]
    for b in aggs[name]["buckets"]:
        yield from _walk(b, level + 1, path | {column: key_of(b)})


def _leaves(aggs: dict, step_s: int | None) -> Iterator[tuple[dict, dict]]:
    for u in aggs["u"]["buckets"]:
        tenant = key_of(u)
        buckets = timed(u) if step_s else [(None, u)]
        for t, b in buckets:
            row = {"tenant": tenant, "hits": int(round(b["h"]["value"] or 0))}
            yield (row | {"t": t} if step_s else row), b


def several(found: list[dict]) -> dict:
    """The query clause of documents with two values in one of the arrays, from the
    values `found` (a document has two values only of values seen in some bucket)."""
    pairs = []
    for column, name in _LEVELS:
        values = sorted({r[column] for r in found})
        for a, b in combinations(values, 2):
            terms = [{"term": {f"{SAFETY}.{name}": v}} for v in (a, b)]
            pairs.append({"bool": {"filter": terms}})
    return {"bool": {"should": pairs, "minimum_should_match": 1}}


def several_rows(aggs: dict, step_s: int | None) -> list[dict]:
    """Rows of a `leaf(...)` answer over the documents of `several`."""
    return [
        {"filter": SEVERAL, "direction": SEVERAL, "action": SEVERAL} | r
        for r, _ in _leaves(aggs, step_s)
    ]


def frame(found: list[dict], step_s: int | None) -> pd.DataFrame:
    """The safety frame (`t` first when per time bucket), ordered."""
    columns = (["t"] if step_s else []) + list(COLUMNS)
    df = pd.DataFrame(found, columns=columns)
    df = df[df["hits"] > 0]
    return df.sort_values(columns[:-1], kind="stable").reset_index(drop=True)
