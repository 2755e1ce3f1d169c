"""`RequestRecord` <-> store row: the typed columns plus the whole record as JSON."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import TYPE_CHECKING

import orjson

from agent.record import RequestRecord, SafetyVerdict
from agent.store.schema import COST_FINAL, COST_UNMETERED, PENDING

_FIELDS = {f.name for f in dataclasses.fields(RequestRecord)}
_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(RequestRecord)
    if f.default is not dataclasses.MISSING
}


def to_row(r: RequestRecord, cost_status: str = COST_FINAL, ship_seq: int | None = None) -> tuple:
    """The values of `schema.INSERT_SQL` for one record (a final record the cost engine
    marked unmetered keeps that status)."""
    if cost_status == COST_FINAL and r.cost_status == COST_UNMETERED:
        cost_status = COST_UNMETERED
    return (
        *to_data(r),
        PENDING,
        cost_status,
        ship_seq,
        r.client_request_id,
        r.experiment,
        r.variant,
    )


def to_data(r: RequestRecord) -> tuple:
    """The values of `schema.DATA_COLUMNS` (orjson serializes the dataclass)."""
    return (
        r.request_id,
        r.wall_time,
        r.tenant,
        r.model,
        r.operation,
        r.status,
        r.http_status,
        r.error_type,
        int(r.stream),
        r.prompt_tokens,
        r.completion_tokens,
        r.duration_s,
        r.ttft_s,
        r.cost_amount,
        r.cost_currency,
        r.cost_device_seconds,
        r.cost_joules,
        sum(v.count for v in r.safety),
        orjson.dumps(r).decode(),
    )


def from_json(text: str | bytes) -> RequestRecord:
    """Rebuild a record from its stored JSON (fields unknown to this version are ignored)."""
    data = orjson.loads(text)
    kwargs = {k: v for k, v in data.items() if k in _FIELDS}
    kwargs["safety"] = tuple(SafetyVerdict(**v) for v in kwargs.get("safety") or ())
    return RequestRecord(**kwargs)


if TYPE_CHECKING:  # to readers of its attributes it is a RequestRecord
    _Record = RequestRecord
else:
    _Record = object


class StoredRecord(_Record):
    """A stored record read back for shipping: `RequestRecord`'s attributes and derived
    properties over the stored JSON, without rebuilding the frozen dataclass (whose
    per-field `object.__setattr__` costs more than the rest of the conversion)."""

    if not TYPE_CHECKING:
        duration_s = RequestRecord.duration_s
        ttft_s = RequestRecord.ttft_s
        tpot_s = RequestRecord.tpot_s

    def __init__(self, text: str | bytes) -> None:
        data = orjson.loads(text)
        data["extra"] = data.get("extra") or {}
        data["safety"] = tuple(SimpleNamespace(**v) for v in data.get("safety") or ())
        self.__dict__.update(_DEFAULTS)
        self.__dict__.update(data)
