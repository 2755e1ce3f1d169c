"""Per-document outcome of a bulk attempt: shipped, retried later, checked, split, or
dead-lettered for good."""

from __future__ import annotations

from dataclasses import dataclass, field

SHIP, RETRY, REJECT, CONFLICT, SPLIT = "ship", "retry", "reject", "conflict", "split"
# Item errors that are not about the document itself: retried for as long as they last
# (an outage or back-pressure must never dead-letter anything), not counted as attempts.
_NOT_THE_DOCUMENTS = {"too_many_requests", "unauthorized"}


@dataclass(slots=True)
class Doc:
    """One document on its way: its store row, the bulk action, and its attempts so far."""

    row_id: int
    request_id: str  # the `_id`
    span_id: str | None  # tells our own earlier copy from another document with its `_id`
    action: dict
    attempts: int = 0  # answers about this document that were errors
    error: str = ""  # the last of them
    index: str = ""  # the concrete index a 409 named


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A document given up on: kept in the store's `dead_letters` table, with why."""

    row_id: int
    request_id: str | None
    reason: str  # malformed, too_large, id_collision, max_attempts, unconvertible
    error: str
    attempts: int
    document: str  # the document's JSON (or the row's record, when it made none)


@dataclass
class Sorted:
    """A bulk attempt's documents sorted by what to do next."""

    shipped: list[int] = field(default_factory=list)
    duplicates: int = 0
    dead: list[DeadLetter] = field(default_factory=list)
    retry: list[Doc] = field(default_factory=list)
    conflicts: list[Doc] = field(default_factory=list)  # 409: ours already, or a collision?
    too_large: list[Doc] = field(default_factory=list)  # the whole request got 413
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, kind: str, n: int = 1) -> None:
        """Count `n` failures of `kind`."""
        self.failures[kind] = self.failures.get(kind, 0) + n


def classify(ok: bool, info: dict) -> tuple[str, str]:
    """(decision, result or error type) for one item of `async_streaming_bulk`'s output.

    409 on `create`: a document with this `_id` is there; ours from an earlier try whose
    answer was lost, or another one (checked by the caller). A 400 on the item itself is
    a document the server will never accept: rejected. A whole-request 413 (a proxy's body
    limit; the helper reports it per item, with `exception`): split the batch. Any other
    whole-request failure is never the document's fault: retried. So are 429, 5xx and
    anything unexpected.
    """
    if ok:
        return SHIP, "created"
    status = info.get("status", 0)
    if status == 409:
        return CONFLICT, "conflict"
    if status == 413:
        return SPLIT, "too_large"
    if status == 429:
        return RETRY, "too_many_requests"
    if status >= 500:
        return RETRY, "server_error"
    if status == 400 and "exception" not in info:
        return REJECT, "malformed"
    if status in (401, 403):
        return RETRY, "unauthorized"
    return RETRY, "other"


def counts_as_attempt(kind: str, info: dict) -> bool:
    """Whether a retried item's error was an answer about the document itself."""
    return "exception" not in info and kind not in _NOT_THE_DOCUMENTS


def reason(info: dict) -> str:
    """A short, storable reason of an item's error."""
    err = info.get("error")
    if isinstance(err, dict):
        return f"{err.get('type', 'error')}: {err.get('reason', '')}"[:500]
    return str(err)[:500]
