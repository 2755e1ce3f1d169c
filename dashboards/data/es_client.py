"""The official Elasticsearch client for the dashboard, and every failure of a call turned
into `DataUnavailable` with a message a person can act on (never a credential)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    ConnectionError,
    ConnectionTimeout,
    Elasticsearch,
    NotFoundError,
    TransportError,
)

from dashboards.data.api import DataUnavailable


def make_client(
    url: str,
    api_key: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    request_timeout: float = 10.0,
    ca_certs: str | None = None,
    verify_certs: bool = True,
) -> Elasticsearch:
    """A client for `url`, no retries (a page asks again on its next refresh). Connects
    on first use, not here."""
    if api_key is not None and basic_auth is not None:
        raise ValueError("give either an api key or a user and password, not both")
    kwargs: dict = {"request_timeout": request_timeout, "max_retries": 0, "retry_on_timeout": False}
    if api_key is not None:
        kwargs["api_key"] = api_key
    if basic_auth is not None:
        kwargs["basic_auth"] = basic_auth
    if url.startswith("https://"):
        kwargs["verify_certs"] = verify_certs
        if ca_certs is not None:
            kwargs["ca_certs"] = ca_certs
    return Elasticsearch(url, **kwargs)


def safe_url(url: str) -> str:
    """`url` without a user or password in it (fit to show)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def no_logs(index: str) -> DataUnavailable:
    """The message for an index pattern that matches nothing."""
    return DataUnavailable(f"no request logs yet at {index}: is shipping on?")


def unavailable(err: ApiError | TransportError, url: str, index: str) -> DataUnavailable:
    """The `DataUnavailable` of a failed call to Elasticsearch at `url` (shown safe)."""
    where = safe_url(url)
    if isinstance(err, ConnectionTimeout):
        return DataUnavailable(f"Elasticsearch at {where} did not answer in time ({err.message})")
    if isinstance(err, ConnectionError):
        return DataUnavailable(f"cannot reach Elasticsearch at {where}: {err.message}")
    if isinstance(err, AuthenticationException | AuthorizationException):
        return DataUnavailable(
            f"Elasticsearch at {where} refused the credentials ({err.status_code}): check "
            "the API key or user and password, and that they may read " + index
        )
    if isinstance(err, NotFoundError) and _error_type(err) == "index_not_found_exception":
        return no_logs(index)
    if isinstance(err, ApiError):
        return DataUnavailable(
            f"Elasticsearch at {where} answered {err.status_code}: {_reason(err)}"
        )
    return DataUnavailable(f"cannot read Elasticsearch at {where}: {err}")


def _error_type(err: ApiError) -> str | None:
    body = err.body if isinstance(err.body, dict) else {}
    error = body.get("error")
    return error.get("type") if isinstance(error, dict) else None


def _reason(err: ApiError) -> str:
    body = err.body if isinstance(err.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"[:300]
    return str(err.message)[:300]
