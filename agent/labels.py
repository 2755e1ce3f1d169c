"""Bounded label values: the first N distinct values keep their name, later ones become `other`.

Prometheus labels must stay bounded (tenants and model names come from clients);
the exact value always survives in the request log. Values named in advance (configured
tenants) always keep their label and take no slot, so early unknown names cannot push
them into `other`.
"""

from __future__ import annotations

from collections.abc import Iterable

OVERFLOW = "other"


class LabelCap:
    """Maps raw values to at most `limit` distinct label values plus `other` and `known`."""

    __slots__ = ("_known", "_limit", "_seen")

    def __init__(self, limit: int, known: Iterable[str] = ()) -> None:
        self._limit = limit
        self._known = frozenset(known)
        self._seen: set[str] = set()

    def __call__(self, value: str, admit: bool = True) -> str:
        """The label for `value`; with `admit` False a new value is not given a slot (a
        model name vLLM refused is a client's invention, not a model)."""
        if value in self._seen or value in self._known:
            return value
        if admit and len(self._seen) < self._limit:
            self._seen.add(value)
            return value
        return OVERFLOW
