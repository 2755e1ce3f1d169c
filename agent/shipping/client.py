"""The official async Elasticsearch client, built from config (credentials never logged)."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch
from elasticsearch.serializer import OrjsonSerializer

from agent.shipping.config import ElasticsearchConfig


def make_client(c: ElasticsearchConfig) -> AsyncElasticsearch:
    """A client for `c.url`. Retries are the shipper's (with backoff), not the transport's."""
    kwargs: dict = {
        "request_timeout": c.request_timeout_s,
        "max_retries": 0,
        "retry_on_timeout": False,
        "serializer": OrjsonSerializer(),
    }
    if c.api_key is not None:
        kwargs["api_key"] = c.api_key.get_secret_value()
    elif c.username is not None and c.password is not None:
        kwargs["basic_auth"] = (c.username, c.password.get_secret_value())
    if c.url and c.url.startswith("https://"):
        kwargs["verify_certs"] = c.verify_certs
        if c.ca_file is not None:
            kwargs["ca_certs"] = str(c.ca_file)
    return AsyncElasticsearch(c.url, **kwargs)
