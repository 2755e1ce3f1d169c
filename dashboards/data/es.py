"""`EsData`: the dashboard's questions (`api.RequestData`) answered from a fleet's
request-log documents in Elasticsearch, each by aggregations (terms, date_histogram, sum,
value_count, range, filter), never by pulling every document. The one bounded search is
the request table (`requests`, at most `limit` documents, without texts).

Works with Elasticsearch and with the noida-db emulator the tests use; where the emulator
lacks an aggregation, another that gives the same answer on both is used (see
`es_query`, `es_bins` and `es_safety` for each gap).
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from elasticsearch import ApiError, Elasticsearch, TransportError

from agent.shipping.config import ElasticsearchConfig
from agent.shipping.template import index_pattern
from dashboards.data import es_bins, es_safety
from dashboards.data import es_query as Q
from dashboards.data.api import REQUEST_COLUMNS, DataUnavailable, Filters, SourceInfo
from dashboards.data.es_client import make_client, no_logs, safe_url, unavailable
from dashboards.data.es_docs import ROW_SOURCE, record_of, request_row
from dashboards.data.es_frames import frame, keyed, measure_row, timed

DEFAULT_INDEX = index_pattern(ElasticsearchConfig().data_stream)  # logs-inferwatch-*
_ORDER: dict[str, list[dict]] = {
    "newest": [{"@timestamp": "desc"}],
    "cost": [{"inferwatch.cost.amount": {"order": "desc", "missing": "_last"}}],
    "latency": [{"gen_ai.server.request.duration": {"order": "desc", "missing": "_last"}}],
}


class EsData:
    """Request logs in Elasticsearch at `url`, documents in `index` (a pattern).
    Credentials: `api_key` (the encoded form) or `basic_auth` (user, password). Every
    call is bounded by `request_timeout` seconds; nothing connects until the first."""

    def __init__(
        self,
        url: str,
        index: str = DEFAULT_INDEX,
        *,
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        request_timeout: float = 10.0,
        ca_certs: str | None = None,
        verify_certs: bool = True,
        client: Elasticsearch | None = None,
    ) -> None:
        self.url, self.index = url, index
        self._es = client or make_client(
            url, api_key, basic_auth, request_timeout, ca_certs, verify_certs
        )

    @classmethod
    def from_config(cls, c: ElasticsearchConfig, request_timeout: float = 10.0) -> EsData:
        """The logs an agent with config `c` ships (its URL, credentials, data stream)."""
        if c.url is None:
            raise ValueError("elasticsearch.url is not set")
        auth = (c.username, c.password.get_secret_value()) if c.username and c.password else None
        return cls(
            c.url,
            index_pattern(c.data_stream),
            api_key=c.api_key.get_secret_value() if c.api_key else None,
            basic_auth=auth,
            request_timeout=request_timeout,
            ca_certs=str(c.ca_file) if c.ca_file else None,
            verify_certs=c.verify_certs,
        )

    def close(self) -> None:
        """Release the client's connections."""
        self._es.close()

    def info(self) -> SourceInfo:
        """The URL (without credentials) and the index pattern."""
        return SourceInfo("elasticsearch", f"{safe_url(self.url)} {self.index}")

    # ---- the questions ----------------------------------------------------------------

    def values(self, dimension: str, f: Filters) -> list[str]:
        """Distinct values of `dimension` in the range (model and tenant choices ignored)."""
        aggs = self._aggs(Q.where(f, choices=False), Q.by_terms(dimension))
        keys = {k for k, _ in keyed(aggs)}
        return sorted(keys if dimension == "model" else keys - {""})

    def totals(self, f: Filters, by: str | None = None) -> pd.DataFrame:
        """`MEASURES` over the range (per `by` value, by cost descending)."""
        if by is None:
            aggs = self._aggs(
                Q.where(f), {"all": {"filter": {"match_all": {}}, "aggs": Q.measures()}}
            )
            row = measure_row(aggs["all"])
            return frame([row] if row["requests"] else [], ())
        aggs = self._aggs(Q.where(f), Q.by_terms(by, Q.measures()))
        rows = [{"key": k} | measure_row(b) for k, b in keyed(aggs)]
        df = frame(rows, ("key",))
        return df.sort_values(["cost", "key"], ascending=[False, True]).reset_index(drop=True)

    def timeseries(self, f: Filters, step_s: int, by: str | None = None) -> pd.DataFrame:
        """`MEASURES` per time bucket (and `by` value), ordered by t then key."""
        series = Q.time_buckets(step_s, Q.measures())
        if by is None:
            aggs = self._aggs(Q.where(f), series)
            return frame([{"t": t} | measure_row(b) for t, b in timed(aggs)], ("t",))
        # Keys outside, time inside: the same buckets, a third of the emulator's time.
        aggs = self._aggs(Q.where(f), Q.by_terms(by, series))
        rows = [{"t": t, "key": k} | measure_row(b) for k, kb in keyed(aggs) for t, b in timed(kb)]
        df = frame(rows, ("t", "key"))
        return df.sort_values(["t", "key"]).reset_index(drop=True)

    def quantiles(
        self,
        f: Filters,
        metric: str,
        qs: tuple[float, ...] = (0.5, 0.95, 0.99),
        step_s: int | None = None,
    ) -> pd.DataFrame:
        """Quantiles of `metric` read off the log bins (within a bin, ~9%, of exact)."""
        field = Q.distribution_field(metric)
        bins = es_bins.bin_ranges(field, self._span(f, field))
        if step_s is None:
            counts = es_bins.counts_of(self._aggs(Q.where(f), bins))
            rows = _quantile_rows(counts, qs, {})
            return pd.DataFrame(rows, columns=["q", "value"])
        aggs = self._aggs(Q.where(f), Q.time_buckets(step_s, bins))
        rows = [
            r for t, b in timed(aggs) for r in _quantile_rows(es_bins.counts_of(b), qs, {"t": t})
        ]
        return pd.DataFrame(rows, columns=["t", "q", "value"])

    def histogram(self, f: Filters, metric: str) -> pd.DataFrame:
        """`metric`'s non-empty log bins: low, high, count."""
        field = Q.distribution_field(metric)
        bins = es_bins.bin_ranges(field, self._span(f, field))
        counts = es_bins.counts_of(self._aggs(Q.where(f), bins))
        rows = [(*es_bins.bin_bounds(b), c) for b, c in counts]
        return pd.DataFrame(rows, columns=["low", "high", "count"])

    def safety(self, f: Filters, step_s: int | None = None) -> pd.DataFrame:
        """Hits by filter, direction, action, tenant (and `t`); see `es_safety` for the
        requests with several kinds of verdict."""
        query = {"bool": {"filter": [Q.where(f), es_safety.has_hits()]}}
        leaf = es_safety.leaf(step_s, Q.time_buckets)
        found, exact = es_safety.rows(self._aggs(query, es_safety.nested(leaf)), step_s)
        if not exact:
            several = es_safety.several(found)
            clean = {"bool": {"filter": [query], "must_not": [several]}}
            found, _ = es_safety.rows(self._aggs(clean, es_safety.nested(leaf)), step_s)
            mixed = {"bool": {"filter": [query, several]}}
            found += es_safety.several_rows(self._aggs(mixed, leaf), step_s)
        return es_safety.frame(found, step_s)

    def requests(
        self,
        f: Filters,
        statuses: tuple[str, ...] = (),
        order: Literal["newest", "cost", "latency"] = "newest",
        limit: int = 200,
    ) -> pd.DataFrame:
        """At most `limit` requests in `order` (`statuses` only, if given); no texts."""
        if order not in _ORDER:
            raise ValueError(f"unknown order {order!r}: one of {', '.join(_ORDER)}")
        sort = [*_ORDER[order], {"@timestamp": "desc"}] if order != "newest" else _ORDER[order]
        query = Q.where(f, statuses=statuses)
        found = self._search(query=query, sort=sort, size=max(0, limit), source_includes=ROW_SOURCE)
        hits = found["hits"]["hits"]
        rows = [request_row(h["_source"], REQUEST_COLUMNS) for h in hits]
        return pd.DataFrame(rows, columns=list(REQUEST_COLUMNS))

    def record(self, request_id: str) -> dict | None:
        """The stored document of `request_id` in the record's field names, or None."""
        resp = self._search(query={"ids": {"values": [request_id]}}, size=1)
        hits = resp["hits"]["hits"]
        return record_of(hits[0]["_source"]) if hits else None

    # ---- calls ---------------------------------------------------------------------------

    def _span(self, f: Filters, field: str) -> tuple[int, int] | None:
        return es_bins.span_of(self._aggs(Q.where(f), es_bins.span_query(field)))

    def _aggs(self, query: dict, aggs: dict) -> dict:
        return self._search(query=query, aggs=aggs, size=0)["aggregations"]

    def _search(self, **body) -> dict:
        try:
            resp = self._es.search(index=self.index, track_total_hits=False, **body)
        except (ApiError, TransportError) as err:
            raise unavailable(err, self.url, self.index) from err
        shards = resp["_shards"]
        if shards["total"] == 0:  # a pattern matching no index answers empty, not 404
            raise no_logs(self.index)
        if shards.get("failed"):  # a partial answer would show wrong totals as right
            raise DataUnavailable(
                f"Elasticsearch at {safe_url(self.url)} answered from only "
                f"{shards['successful']} of {shards['total']} shards of {self.index}: try again"
            )
        return resp.body


def _quantile_rows(counts: list[tuple[int, int]], qs: tuple[float, ...], extra: dict) -> list[dict]:
    if not counts:
        return []
    return [extra | {"q": q, "value": es_bins.quantile(counts, q)} for q in qs]
