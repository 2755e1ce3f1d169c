"""Per-document outcome of a bulk attempt: shipped, retried later, or rejected for good."""

from __future__ import annotations

from dataclasses import dataclass, field

SHIP, RETRY, REJECT = "ship", "retry", "reject"


@dataclass
class Sorted:
    """A bulk attempt's documents sorted by what to do next (row ids, or (row id, item))."""

    shipped: list[int] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    retry: list = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


def classify(ok: bool, info: dict) -> tuple[str, str]:
    """(decision, result or error type) for one item of `async_streaming_bulk`'s output.

    409 on `create` means the document is already there (a retry of one that landed).
    A 400 on the item itself is a document the server will never accept: rejected.
    A whole-request failure (the helper reports it per item, with `exception`) is never
    the document's fault: retried. So are 429, 5xx and anything unexpected.
    """
    if ok:
        return SHIP, "created"
    status = info.get("status", 0)
    if status == 409:
        return SHIP, "duplicate"
    if status == 429:
        return RETRY, "too_many_requests"
    if status >= 500:
        return RETRY, "server_error"
    if status == 400 and "exception" not in info:
        return REJECT, "malformed"
    if status in (401, 403):
        return RETRY, "unauthorized"
    return RETRY, "other"


def reason(info: dict) -> str:
    """A short, storable reason of an item's error."""
    err = info.get("error")
    if isinstance(err, dict):
        return f"{err.get('type', 'error')}: {err.get('reason', '')}"[:500]
    return str(err)[:500]
