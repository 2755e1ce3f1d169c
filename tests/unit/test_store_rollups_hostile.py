"""A record the rollups cannot count (a time of 1e300, NaN, a count past 2**40 or not a number) is stored
as a row all the same and left out of the rollups: before, its bucket overflowed SQLite's
integers and every write of its batch failed, for good."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import time

import pytest

from agent.metrics import new_registry
from agent.store.config import StoreConfig
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from dashboards.data.api import Filters
from dashboards.data.store import StoreData
from tests.store_records import make_record

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "odd",
    [
        {"wall_time": 1e300},
        {"wall_time": math.nan},
        {"wall_time": -5.0},
        {"prompt_tokens": 2**50},
        {"cost_amount": math.inf},
        {"prompt_tokens": "many"},  # SQLite keeps text in an INTEGER column
    ],
)
def test_an_uncountable_record_is_stored_and_left_out_of_the_rollups(tmp_path, odd):
    now = time.time()
    good = [make_record(i, wall_time=now - 100 + i) for i in range(3)]
    bad = dataclasses.replace(make_record(9, wall_time=now - 50), **odd)
    config = StoreConfig(dir=tmp_path)
    writer = StoreWriter(config, StoreStats(new_registry()[1]), keep_unshipped=False)
    writer.start()
    try:
        writer.put([good[0], bad, *good[1:]])
        assert writer.flush().result(timeout=30) is True  # the batch was committed
    finally:
        writer.close()
    with sqlite3.connect(config.path) as conn:
        rows = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        refused = conn.execute("SELECT count(*) FROM rejects").fetchone()[0]
    # Stored, or (a NaN time, which SQLite cannot keep in a NOT NULL column) refused into
    # the rejects table as before: either way not lost, and the batch went in.
    assert (rows, refused) == ((3, 1) if odd.get("wall_time") is math.nan else (4, 0))
    totals = StoreData(config.path).totals(Filters(now - 3600, now + 60))
    assert int(totals["requests"].iloc[0]) == 3  # the rollups count the three they can
