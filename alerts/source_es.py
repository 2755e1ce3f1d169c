"""`ElasticsearchSource`: the record frame from a fleet's request-log documents.

Reads the ECS documents the shipper writes (`agent.shipping.ecs`) with the official client:
a point in time over the index pattern, paged with `search_after` (sorted by `@timestamp`
then `_shard_doc`), so a long read sees one consistent view and never a page twice. Rows
past `max_rows` are sampled uniformly (reservoir sampling, seeded by the range), so memory
stays bounded however many documents match.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from elasticsearch import ApiError, Elasticsearch, TransportError

from alerts.source import DEFAULT_MAX_ROWS, SourceUnavailable, descriptor_columns, to_frame

DEFAULT_INDEX = "logs-inferwatch-*"
_KEEP_ALIVE = "2m"
_SOURCE = [
    "@timestamp",
    "user.id",
    "gen_ai",
    "inferwatch",
    "http.response.status_code",
    "error.type",
]


class ElasticsearchSource:
    """Request logs in Elasticsearch (or anything speaking its API). `client` is an
    `elasticsearch.Elasticsearch`; build one with `connect`."""

    def __init__(
        self,
        client: Elasticsearch,
        index: str = DEFAULT_INDEX,
        max_rows: int = DEFAULT_MAX_ROWS,
        texts: bool = False,
        page_size: int = 1000,
    ) -> None:
        self.client, self.index = client, index
        self.max_rows, self.texts, self.page_size = max_rows, texts, page_size

    @classmethod
    def connect(cls, url: str, index: str = DEFAULT_INDEX, **kwargs) -> ElasticsearchSource:
        """A source on `url`; `api_key`, `basic_auth`, `ca_certs`, `verify_certs` and
        `request_timeout` go to the client, the rest to the source."""
        client_keys = ("api_key", "basic_auth", "ca_certs", "verify_certs", "request_timeout")
        client_kwargs = {k: kwargs.pop(k) for k in client_keys if k in kwargs}
        client_kwargs.setdefault("request_timeout", 30)
        return cls(Elasticsearch(url, max_retries=0, **client_kwargs), index, **kwargs)

    def frame(self, start: float, end: float) -> pd.DataFrame:
        """Documents with start <= @timestamp < end (at most `max_rows`, sampled uniformly)."""
        try:
            docs = _reservoir(self._documents(start, end), self.max_rows, seed=int(start))
        except (ApiError, TransportError) as err:
            raise SourceUnavailable(f"cannot read Elasticsearch ({self.index}): {err}") from err
        docs.sort(key=lambda d: d.get("@timestamp", ""))
        return to_frame((row_of_document(d, self.texts) for d in docs), self.texts)

    def _documents(self, start: float, end: float) -> Iterator[dict]:
        query = {"range": {"@timestamp": {"gte": _iso(start), "lt": _iso(end)}}}
        pit = self.client.open_point_in_time(index=self.index, keep_alive=_KEEP_ALIVE)["id"]
        after = None
        try:
            while True:
                page = self.client.search(
                    pit={"id": pit, "keep_alive": _KEEP_ALIVE},
                    query=query,
                    size=self.page_size,
                    sort=[{"@timestamp": "asc"}, {"_shard_doc": "asc"}],
                    search_after=after,
                    source_includes=_SOURCE,
                    track_total_hits=False,
                )
                pit, hits = page.get("pit_id", pit), page["hits"]["hits"]
                yield from (h["_source"] for h in hits)
                if len(hits) < self.page_size:
                    return
                after = hits[-1]["sort"]
        finally:
            self._close_pit(pit)

    def _close_pit(self, pit: str) -> None:
        # A point in time left open expires by itself after the keep-alive.
        with contextlib.suppress(ApiError, TransportError):
            self.client.close_point_in_time(id=pit)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")


def _reservoir(items: Iterator[dict], k: int, seed: int) -> list[dict]:
    """A uniform sample of at most `k` items from a stream of unknown length (Algorithm R)."""
    rng, kept = random.Random(seed), []
    for n, item in enumerate(items):
        if n < k:
            kept.append(item)
        else:
            j = rng.randrange(n + 1)
            if j < k:
                kept[j] = item
    return kept


def _get(doc: dict, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def row_of_document(d: dict, texts: bool) -> dict:
    """One frame row from an ECS request-log document."""
    reasons = _get(d, "gen_ai.response.finish_reasons") or [None]
    prompt, completion = _get(d, "inferwatch.prompt_text"), _get(d, "inferwatch.completion_text")
    row = {
        "wall_time": datetime.fromisoformat(d["@timestamp"]).timestamp(),
        "tenant": _get(d, "user.id"),
        "model": _get(d, "gen_ai.request.model") or "",
        "operation": _get(d, "gen_ai.operation.name"),
        "status": _get(d, "inferwatch.status"),
        "http_status": _get(d, "http.response.status_code"),
        "error_type": _get(d, "error.type"),
        "stream": _get(d, "inferwatch.stream"),
        "prompt_tokens": _get(d, "gen_ai.usage.input_tokens"),
        "completion_tokens": _get(d, "gen_ai.usage.output_tokens"),
        "latency_s": _get(d, "gen_ai.server.request.duration"),
        "ttft_s": _get(d, "gen_ai.server.time_to_first_token"),
        "tpot_s": _get(d, "gen_ai.server.time_per_output_token"),
        "cost_amount": _get(d, "inferwatch.cost.amount"),
        "cost_currency": _get(d, "inferwatch.cost.currency"),
        "finish_reason": reasons[0],
        "safety_hits": _get(d, "inferwatch.safety.hits") or 0,
        "safety_filters": ",".join(_get(d, "inferwatch.safety.filters") or ()),
    }
    row.update(descriptor_columns(_get(d, "inferwatch.text_stats"), prompt, completion))
    if texts:
        row.update(prompt_text=prompt, completion_text=completion)
    return row
