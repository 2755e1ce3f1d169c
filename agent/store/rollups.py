"""Rollups: the dashboard's aggregates, kept up to date by the store's writer.

Per minute and per hour (`RESOLUTIONS`): the dashboard's `MEASURES` per key (`KEYS`:
tenant, model, operation, status, finish_reason, error_type, stream), the log-bin
histograms of latency, ttft, tpot and cost per (tenant, model), and the safety hits per
(tenant, model, filter, direction, action). The hour tables answer long ranges; the
minute tables answer short ones, sub-hour steps and the edges of a range that are not
whole hours. Minute histograms are kept too: without them a day's page with 15-minute
steps would bin every raw row of the day.

A batch is aggregated in Python (`Delta`) and written with one upsert per key
(`ON CONFLICT DO UPDATE`), in the transaction that inserts (or deletes) its rows, so the
rollups always equal the rows: the writer adds, retention subtracts (see `retention`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.store.bins import MEASURES, bin_of

RESOLUTIONS = {"minute": 60, "hour": 3600}
KEYS = ("tenant", "model", "operation", "status", "finish_reason", "error_type", "stream")
METRICS = ("latency", "ttft", "tpot", "cost")  # `metric` code in the histograms: the index

# tpot as `RequestRecord.tpot_s` computes it (same float operations, so the same bins).
TPOT_SQL = (
    "CASE WHEN stream != 0 AND completion_tokens >= 2 THEN "
    "(json_extract(record, '$.end_ns') - json_extract(record, '$.first_token_ns')) "
    "/ 1e9 / (completion_tokens - 1) END"
)
# A row's `Fact` fields, read back from the requests table (back-fill, retention).
FACT_SQL = f"""
    wall_time, tenant, model, operation, status,
    coalesce(json_extract(record, '$.finish_reason'), ''), coalesce(error_type, ''), stream,
    prompt_tokens, completion_tokens, cost_amount, cost_device_seconds, cost_joules,
    safety_hits, latency_s, ttft_s, {TPOT_SQL}, json_extract(record, '$.safety')
"""


@dataclass(slots=True)
class Delta:
    """Changes to the rollups, per resolution: {resolution: {key: values}} for measures,
    histograms and safety hits (keys start with the bucket start `t`)."""

    measures: dict = field(default_factory=lambda: {res: {} for res in RESOLUTIONS})
    hist: dict = field(default_factory=lambda: {res: {} for res in RESOLUTIONS})
    safety: dict = field(default_factory=lambda: {res: {} for res in RESOLUTIONS})


def fact_of_record(r) -> tuple:
    """A record's fields the rollups count, in `FACT_SQL`'s order."""
    return (
        r.wall_time,
        r.tenant,
        r.model,
        r.operation,
        r.status,
        r.finish_reason or "",
        r.error_type or "",
        int(r.stream),
        r.prompt_tokens,
        r.completion_tokens,
        r.cost_amount,
        r.cost_device_seconds,
        r.cost_joules,
        sum(v.count for v in r.safety),
        r.duration_s,
        r.ttft_s,
        r.tpot_s,
        [(v.filter, v.direction, v.action, v.count) for v in r.safety],
    )


# Bounds of what a rollup counts: a time before year 2242 and counts under 2**40 keep
# every bucket start and sum inside SQLite's 64-bit integers.
MAX_TIME = 2.0**33
MAX_COUNT = 2**40


def countable(fact: tuple) -> bool:
    """Whether a record's fact can be rolled up. One with an absurd time (1e300, NaN) or
    count is stored as a row all the same, but left out of the rollups (adding it would
    overflow a bucket and fail every write of its batch); the same test on the way out
    (retention, back-fill) keeps the rollups equal to the rows they count."""
    if not (isinstance(fact[0], int | float) and 0 <= fact[0] < MAX_TIME):
        return False
    try:
        ints = (fact[8], fact[9], fact[13], *(_verdict(v)[3] for v in fact[17] or ()))
    except (TypeError, ValueError, KeyError, IndexError):  # verdicts not as the agent writes
        return False
    if not all(v is None or (type(v) is int and -MAX_COUNT < v < MAX_COUNT) for v in ints):
        return False  # a count past the bound, or not a number ("many" tokens)
    floats = (*fact[10:13], *fact[14:17])
    return all(v is None or (isinstance(v, int | float) and math.isfinite(v)) for v in floats)


def aggregate(facts: Iterable[tuple], delta: Delta | None = None) -> Delta:
    """Add `facts` (see `fact_of_record`) to `delta` (a new one by default). Each fact is
    counted once, per minute; the minute buckets are then summed into the coarser ones
    (a batch has far fewer buckets than records)."""
    delta = delta or Delta()
    m: dict[tuple, list] = {}  # per minute: measures, histogram bins, safety verdicts
    h: dict[tuple, int] = {}
    s: dict[tuple, int] = {}
    width = RESOLUTIONS["minute"]
    for fact in facts:
        if countable(fact):
            _add(m, h, s, math.floor(fact[0] / width) * width, fact)
    for res, width in RESOLUTIONS.items():
        _merge(delta.measures[res], m, width, _add_lists)
        _merge(delta.hist[res], h, width, int.__add__)
        _merge(delta.safety[res], s, width, int.__add__)
    return delta


def _merge(into: dict, minutes: dict, width: int, add) -> None:
    if not into and width == RESOLUTIONS["minute"]:
        into.update(minutes)
        return
    for key, value in minutes.items():
        if width != RESOLUTIONS["minute"]:
            key = (key[0] // width * width, *key[1:])
        have = into.get(key)
        into[key] = value if have is None else add(have, value)


def _add_lists(a: list, b: list) -> list:
    return [x + y for x, y in zip(a, b, strict=True)]


def _add(measures: dict, hist: dict, safety: dict, t: int, fact: tuple) -> None:
    (_, tenant, model, op, status, finish, err, stream, pt, ct, cost, dev, j, hits) = fact[:14]
    latency, ttft, tpot, verdicts = fact[14:]
    values = [1, status != "ok", pt or 0, ct or 0, cost or 0.0, cost is not None, dev or 0.0]
    values += (j or 0.0, hits, latency, ttft or 0.0, ttft is not None)
    key = (t, tenant, model, op, status, finish, err, stream)
    have = measures.get(key)
    measures[key] = values if have is None else _add_lists(have, values)
    for code, value in enumerate((latency, ttft, tpot, cost)):
        if value is not None:
            k = (t, tenant, model, code, bin_of(value))
            hist[k] = hist.get(k, 0) + 1
    for verdict in verdicts or ():
        name, direction, action, count = _verdict(verdict)
        sk = (t, tenant, model, name, direction, action)
        safety[sk] = safety.get(sk, 0) + count


def _verdict(v) -> tuple:
    # From a record: a tuple; from the stored JSON: a dict.
    if isinstance(v, dict):
        return v["filter"], v["direction"], v["action"], v.get("count", 1)
    return v


__all__ = ["MEASURES", "Delta", "aggregate", "fact_of_record"]
