"""Request and trace identifiers."""

from __future__ import annotations

import os
import re

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_request_id() -> str:
    """A fresh request id (32 hex chars)."""
    return os.urandom(16).hex()


def request_id_from(header: str | None) -> str:
    """Honour a client's `x-request-id` when it is a sane token, else make one."""
    if header and _SAFE_ID.match(header):
        return header
    return new_request_id()


def trace_ids(traceparent: str | None) -> tuple[str, str | None]:
    """(trace id, parent span id) from a W3C `traceparent`, or a new trace id and no parent."""
    if traceparent:
        m = _TRACEPARENT.match(traceparent.strip().lower())
        if m and m.group(1) != "0" * 32:
            return m.group(1), m.group(2)
    return os.urandom(16).hex(), None


def new_span_id() -> str:
    """A fresh span id (16 hex chars)."""
    return os.urandom(8).hex()
