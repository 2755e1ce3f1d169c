"""Bounded label values: the first N distinct values keep their name, later ones become `other`.

Prometheus labels must stay bounded (tenants and model names come from clients);
the exact value always survives in the request log.
"""

from __future__ import annotations

OVERFLOW = "other"


class LabelCap:
    """Maps raw values to at most `limit` distinct label values plus `other`."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) < self._limit:
            self._seen.add(value)
            return value
        return OVERFLOW
