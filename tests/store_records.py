"""Request records, and a wait helper, for the store and shipping tests."""

from __future__ import annotations

import asyncio
import os
import time

from agent.ids import new_request_id
from agent.record import RequestRecord, SafetyVerdict
from agent.store import schema
from agent.store.rows import to_row


def make_record(i: int = 0, **kw) -> RequestRecord:
    """A complete, plausible record; keyword arguments override fields."""
    start = 1_000_000_000 + i * 1_000_000
    fields = dict(
        request_id=new_request_id(),  # as the agent makes them (time-ordered)
        trace_id=os.urandom(16).hex(),
        span_id=os.urandom(8).hex(),
        tenant=f"tenant-{i % 3}",
        model="fake-model",
        operation="chat",
        path="/v1/chat/completions",
        stream=bool(i % 2),
        wall_time=time.time(),
        start_ns=start,
        end_ns=start + 250_000_000,
        first_token_ns=start + 50_000_000,
        response_model="fake-model",
        prompt_tokens=10 + i % 7,
        completion_tokens=5,
        finish_reason="stop",
        cost_currency="USD",
        cost_amount=0.001,
        cost_device_seconds=0.2,
        cost_joules=30.0,
        safety=(SafetyVerdict("pii.email", "input", "redact", 2),),
        extra={"client": "tests"},
    )
    fields.update(kw)
    return RequestRecord(**fields)


async def until(predicate, timeout: float = 60.0) -> None:
    """Poll a plain predicate; a wait, not a timed assertion: fails only if never true."""
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never became true")


def store_factory(
    tmp_path, keep_unshipped: bool, default_sql: str | None = None, early: bool = False
):
    """A pytest fixture body: yields `make(early=early, **config) -> (writer, registry,
    query(sql))`, a started `StoreWriter` on a store in `tmp_path`, and closes every writer
    it made afterwards. `query` reads the database on a connection of its own."""
    import sqlite3

    from agent.metrics import new_registry
    from agent.store.config import StoreConfig
    from agent.store.stats import StoreStats
    from agent.store.writer import StoreWriter

    made = []

    def make(early: bool = early, **kw):
        config = StoreConfig(dir=tmp_path, **kw)
        registry, instruments = new_registry()
        writer = StoreWriter(config, StoreStats(instruments), keep_unshipped, early=early)
        writer.start()
        made.append(writer)

        def query(sql: str | None = default_sql) -> list[tuple]:
            assert sql is not None, "no default query: pass the SQL"
            db = sqlite3.connect(config.path)
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()

        return writer, registry, query

    yield make
    for w in made:
        w.close()


# The row insert of schemas v3 to v5: no experiment and variant columns (v6 added them).
PRE_V6_COLUMNS = (
    *schema.DATA_COLUMNS,
    "ship_state",
    "cost_status",
    "ship_seq",
    "client_request_id",
)
PRE_V6_INSERT = (
    f"INSERT INTO requests ({', '.join(PRE_V6_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(PRE_V6_COLUMNS))})"
)


def pre_v6_row(r, cost_status=schema.COST_FINAL, ship_seq=None) -> tuple:
    """`to_row` as an agent of schema v3 to v5 wrote it."""
    return to_row(r, cost_status, ship_seq)[: len(PRE_V6_COLUMNS)]
