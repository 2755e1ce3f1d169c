"""Records the store cannot write, kept in the `rejects` table instead of wedging the writer.

A record is poison when SQLite or orjson refuses one of its values: a string with a lone
surrogate (aiohttp decodes a non-UTF-8 header byte that way), an integer past 64 bits, a
value of a type SQLite cannot bind, or a request id already stored. Only the writer's
failure path comes here: a batch that fails for such a reason is written again record by
record, and each refused one is kept as `safe_json` (every value made encodable) with
the error, so nothing is lost silently and the rest of the batch commits.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from dataclasses import dataclass

import orjson

# Failures that belong to one record's values, not to the database or the disk.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    TypeError,  # orjson (e.g. a lone surrogate), or a value sqlite3 cannot bind
    ValueError,  # UnicodeEncodeError from sqlite3's binding
    OverflowError,  # an int past SQLite's 64 bits
    sqlite3.IntegrityError,  # the request id is already stored
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,  # binding an unsupported type (Python 3.12+)
)
INSERT_SQL = "INSERT INTO rejects (at, request_id, reason, error, record) VALUES (?, ?, ?, ?, ?)"
_INT_RANGE = (-(2**63), 2**63 - 1)


def reason_of(err: BaseException) -> str:
    """A bounded label: duplicate (the request id is stored already), unencodable (a
    value orjson or sqlite3 refuses) or invalid (any other refusal of the row)."""
    if isinstance(err, sqlite3.IntegrityError):
        return "duplicate"
    if isinstance(err, TypeError | ValueError | OverflowError):
        return "unencodable"
    return "invalid"


def clean(value: object) -> object:
    """`value` with everything made JSON- and SQLite-safe: lone surrogates escaped
    (`\\udcff` as text), integers past 64 bits as strings, unknown types as their repr."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bool | float) or value is None:
        return value
    if isinstance(value, int):
        return value if _INT_RANGE[0] <= value <= _INT_RANGE[1] else str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: clean(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(clean(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean(v) for v in value]
    return clean(repr(value))


def safe_json(value: object) -> str:
    """JSON of `value`, whatever it holds (see `clean`)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return orjson.dumps(clean(value)).decode()


@dataclass(frozen=True, slots=True)
class Reject:
    """One record the writer could not store, and why."""

    request_id: str | None
    reason: str
    error: str
    record: str  # `safe_json` of the record

    @classmethod
    def of(cls, record: object, err: BaseException) -> Reject:
        """The reject of `record`, refused with `err`."""
        rid = clean(getattr(record, "request_id", None))
        error = str(clean(f"{type(err).__name__}: {err}"[:500]))
        return cls(rid if isinstance(rid, str) else None, reason_of(err), error, safe_json(record))


def insert(conn: sqlite3.Connection, rejects: list[Reject]) -> None:
    """Add rejects (inside the caller's transaction)."""
    now = time.time()
    conn.executemany(
        INSERT_SQL, [(now, r.request_id, r.reason, r.error, r.record) for r in rejects]
    )
