"""Filters written once and rendered twice: as KQL (what a Kibana saved search stores) and as
Elasticsearch query DSL (what the same filter sends), so the two cannot disagree.

A filter is a list of clauses that must all hold. Only the clause kinds the saved searches
need are here; each renders to the one KQL form and the one DSL query that Kibana's KQL
compiles it to (`field : "v"` -> term on a keyword, `field > n` -> range, `field : *` ->
exists).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """The field holds exactly this value (a keyword, number or boolean)."""

    field: str
    value: str | int | bool

    def kql(self) -> str:
        return f"{self.field} : {_kql_value(self.value)}"

    def dsl(self) -> dict:
        return {"term": {self.field: self.value}}


@dataclass(frozen=True)
class Above:
    """The numeric field is greater than `bound`."""

    field: str
    bound: int | float

    def kql(self) -> str:
        return f"{self.field} > {self.bound}"

    def dsl(self) -> dict:
        return {"range": {self.field: {"gt": self.bound}}}


@dataclass(frozen=True)
class Exists:
    """The field has a value."""

    field: str

    def kql(self) -> str:
        return f"{self.field} : *"

    def dsl(self) -> dict:
        return {"exists": {"field": self.field}}


Clause = Term | Above | Exists


def kql(clauses: list[Clause]) -> str:
    """The KQL of all clauses together."""
    return " and ".join(c.kql() for c in clauses)


def dsl(clauses: list[Clause]) -> dict:
    """The query DSL of all clauses together (filter context: no scoring, as Discover)."""
    return {"bool": {"filter": [c.dsl() for c in clauses]}}


def _kql_value(v: str | int | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    # Quoted: a value with spaces or KQL's special characters stays one exact phrase.
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
