"""The Elasticsearch request bodies `EsData` sends: the filter of a `Filters`, the measures
of every bucket, terms and time buckets. Field names are the agent's documents'
(`agent.shipping.ecs`), mapped by `agent.shipping.template`.

Emulator gaps this is built around (noida-db 0.2.3, which reports 8.15): `composite` and
`multi_terms` are unknown (400), so keys are nested `terms` (every dimension is bounded:
tenants are capped by the agent); the `missing` parameter of `terms` is ignored, so a
sibling `missing` aggregation counts documents without the field. Both forms are also
correct on Elasticsearch.
"""

from __future__ import annotations

from dashboards.data.api import DIMENSIONS, DISTRIBUTIONS, Filters

TIME = "@timestamp"
STATUS = "inferwatch.status"
FIELDS = {
    "tenant": "user.id",
    "model": "gen_ai.request.model",
    "operation": "gen_ai.operation.name",
    "status": STATUS,
    "finish_reason": "gen_ai.response.finish_reasons",
    "error_type": "error.type",
    "stream": "inferwatch.stream",
}
DISTRIBUTION_FIELDS = {
    "latency": "gen_ai.server.request.duration",
    "ttft": "gen_ai.server.time_to_first_token",
    "tpot": "gen_ai.server.time_per_output_token",
    "cost": "inferwatch.cost.amount",
}
MISSING = "_missing"  # the sibling of a terms aggregation: documents without the field
KEYS = "keys"  # not "key": a bucket has its own `key`
TERMS_SIZE = 10_000  # above any dimension's distinct values (tenants are capped)

# measure -> (aggregation, field) summed or counted per bucket (requests, errors: below).
_SUMS = {
    "input_tokens": ("sum", "gen_ai.usage.input_tokens"),
    "output_tokens": ("sum", "gen_ai.usage.output_tokens"),
    "cost": ("sum", "inferwatch.cost.amount"),
    "costed": ("value_count", "inferwatch.cost.amount"),
    "device_seconds": ("sum", "inferwatch.cost.device_seconds"),
    "joules": ("sum", "inferwatch.cost.joules"),
    "safety_hits": ("sum", "inferwatch.safety.hits"),
    "latency_sum": ("sum", "gen_ai.server.request.duration"),
    "ttft_sum": ("sum", "gen_ai.server.time_to_first_token"),
    "ttft_count": ("value_count", "gen_ai.server.time_to_first_token"),
}


def field_of(dimension: str) -> str:
    """The document field of a `DIMENSIONS` name (ValueError for another name)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}: one of {', '.join(DIMENSIONS)}")
    return FIELDS[dimension]


def distribution_field(metric: str) -> str:
    """The document field of a `DISTRIBUTIONS` name (ValueError for another name)."""
    if metric not in DISTRIBUTIONS:
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTION_FIELDS[metric]


def where(f: Filters, choices: bool = True, statuses: tuple[str, ...] = ()) -> dict:
    """The query of `f`: start <= @timestamp < end, the chosen models and tenants (unless
    `choices` is False: a menu offers every value), and only `statuses` if given."""
    window = {"gte": int(f.start * 1000), "lt": int(f.end * 1000), "format": "epoch_millis"}
    clauses: list[dict] = [{"range": {TIME: window}}]
    if choices:
        clauses += _one_of(FIELDS["model"], f.models) + _one_of(FIELDS["tenant"], f.tenants)
    clauses += _one_of(STATUS, statuses)
    return {"bool": {"filter": clauses}}


def _one_of(field: str, values: tuple[str, ...]) -> list[dict]:
    if not values:
        return []
    should: list[dict] = []
    if any(values):
        should.append({"terms": {field: [v for v in values if v]}})
    if "" in values:  # the agent leaves an empty value out of the document
        should.append({"bool": {"must_not": {"exists": {"field": field}}}})
    return [{"bool": {"should": should, "minimum_should_match": 1}}]


def measures() -> dict:
    """The aggregations giving `api.MEASURES` in every bucket (`requests` is doc_count,
    `errors` what is not in the "ok" bucket of `statuses`)."""
    aggs: dict[str, dict] = {name: {agg: {"field": fld}} for name, (agg, fld) in _SUMS.items()}
    # errors = requests - the "ok" bucket. Not a `filter` aggregation: in the emulator a
    # filter inside every time bucket costs more than all the sums together.
    aggs["statuses"] = {"terms": {"field": STATUS, "size": 100}}
    return aggs


def by_terms(dimension: str, sub: dict | None = None) -> dict:
    """Aggregations keyed by `dimension`: `KEYS` (terms) and its `MISSING` sibling, each
    with `sub` inside."""
    fld = field_of(dimension)
    terms: dict = {"terms": {"field": fld, "size": TERMS_SIZE}}
    missing: dict = {"missing": {"field": fld}}
    if sub:
        terms["aggs"], missing["aggs"] = sub, sub
    return {KEYS: terms, MISSING: missing}


def time_buckets(step_s: int, sub: dict) -> dict:
    """`t`: buckets of `step_s` seconds aligned to the epoch, empty ones left out."""
    if step_s <= 0 or step_s % 60:
        raise ValueError(f"a step is a positive whole number of minutes, not {step_s} s")
    hist = {"field": TIME, "fixed_interval": f"{step_s}s", "min_doc_count": 1}
    return {"t": {"date_histogram": hist, "aggs": sub}}
