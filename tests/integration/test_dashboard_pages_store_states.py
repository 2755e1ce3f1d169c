"""Every page of the dashboard (Streamlit's AppTest) on stores an operator really meets:
one left by an older inferwatch (no rollups), one a live agent writes while the pages
read it, and one from a newer inferwatch. Each page says so plainly, never a traceback,
and the figures it shows still match the records."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from agent.store import schema
from dashboards.navigation import NAVIGATION
from dashboards.ui import fmt
from tests.dashboard_app import page_test, shown_text
from tests.dashboard_seed import frame_of, seed_records, write_store
from tests.unit.test_dashboard_store_rollups import v3_store

pytestmark = pytest.mark.integration

PAGES = [path for _file, _title, path, _icon in NAVIGATION]


def test_an_older_store_is_read_with_a_note_and_right_figures(monkeypatch, tmp_path):
    now = time.time()
    records = seed_records(800, now - 3 * 86400, now - 600, seed=3)
    v3_store(tmp_path / "requests.sqlite3", records)
    for path in PAGES:
        at = page_test(monkeypatch, path, "--data-dir", str(tmp_path), params={"range": "7d"})
        assert not at.exception, (path, at.exception)
        if path not in ("alerts", "gpus"):  # they read alerts.db and the snapshots
            assert "store from an older inferwatch (schema v3)" in shown_text(at), path
    overview = page_test(
        monkeypatch, "overview", "--data-dir", str(tmp_path), params={"range": "7d"}
    )
    assert f"Requests: {fmt.count(len(records))}" in shown_text(overview)
    # Read only: the dashboard did not migrate it (the agent of this version will).
    conn = schema.connect(str(tmp_path / "requests.sqlite3"))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


def test_pages_read_a_store_while_an_agent_writes_it(monkeypatch, tmp_path):
    monkeypatch.setenv("INFERWATCH_DASHBOARD__CACHE_S", "0")  # every run reads the store
    now = time.time()
    # Well inside the page's default "last day", however long the test takes.
    first = seed_records(1000, now - 80_000, now - 3600, seed=4)
    write_store(tmp_path, first)
    more = seed_records(4000, now - 3600, now - 60, seed=5)
    more = [dataclasses.replace(r, request_id=f"late-{r.request_id}") for r in more]
    writer = threading.Thread(target=write_store, args=(tmp_path, more, 200))
    writer.start()
    seen = []
    try:
        while writer.is_alive():
            for path in ("overview", "cost", "requests", "safety"):
                at = page_test(monkeypatch, path, "--data-dir", str(tmp_path))
                assert not at.exception, (path, at.exception)
                assert not at.error, (path, [e.value for e in at.error])
                if path == "overview":
                    seen.append(_requests_shown(at))
    finally:
        writer.join()
    # Whole batches only: every count shown is the first records plus whole batches of 200.
    assert seen and all((n - len(first)) % 200 == 0 for n in seen), seen
    at = page_test(monkeypatch, "overview", "--data-dir", str(tmp_path))
    assert _requests_shown(at) == len(frame_of(first + more))


def _requests_shown(at) -> int:
    metric = next(m for m in at.metric if m.label == "Requests")
    return int(metric.value.replace(",", ""))


def test_a_store_from_a_newer_inferwatch_is_a_plain_message(monkeypatch, tmp_path):
    write_store(tmp_path, seed_records(10, time.time() - 3600, time.time()))
    conn = schema.connect(str(tmp_path / "requests.sqlite3"))
    conn.execute(f"PRAGMA user_version={schema.VERSION + 1}")
    conn.close()
    for path in ("overview", "cost", "requests", "drift", "safety"):
        at = page_test(monkeypatch, path, "--data-dir", str(tmp_path))
        assert not at.exception, (path, at.exception)
        assert any("newer" in e.value for e in at.error), (path, [e.value for e in at.error])
