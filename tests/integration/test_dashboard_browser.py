"""Every page of a served dashboard in a real browser (Debian's chromium, Playwright):
drawn without a Streamlit exception or error, showing figures that match the seeded
request log, and saved as a screenshot (test-artifacts/, kept by CI)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dashboards.app import NAVIGATION
from tests.dashboard_browser import CHROMIUM, screenshot, served_dashboard, visit
from tests.dashboard_seed import frame_of, seed_records, write_store

pytestmark = [pytest.mark.integration, pytest.mark.browser]

N = 3000
RANGE = "?range=7d"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A store with N requests spread over the last 6 days (all inside "Last 7 days"
    however long the test takes), and the same records as a frame."""
    now = time.time()
    records = seed_records(N, now - 6 * 86400, now - 600, seed=7)
    folder = tmp_path_factory.mktemp("dashboard-store")
    write_store(folder, records)
    return folder, frame_of(records)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def test_every_page_draws_without_an_exception_against_the_store(seeded, page):
    folder, _ = seeded
    with served_dashboard("--data-dir", str(folder)) as url:
        for _file, title, path, _icon in NAVIGATION:
            shown = visit(page, f"{url}/{path}{RANGE}")
            assert not shown.exceptions, (path, shown.exceptions)
            assert not shown.errors, (path, shown.errors)
            assert title in shown.text
            screenshot(page, f"store-{path}")


def test_a_missing_store_is_a_plain_message_on_every_page(tmp_path, page):
    with served_dashboard("--data-dir", str(tmp_path / "nothing-here")) as url:
        for _file, _title, path, _icon in NAVIGATION:
            shown = visit(page, f"{url}/{path}")
            assert not shown.exceptions, (path, shown.exceptions)
            said = shown.errors + shown.notes
            # The alerts page reads alerts.db, not the request log: it says alerts are off.
            expected = "alerts are off" if path == "alerts" else "no store at"
            assert any(expected in e.lower() for e in said), (path, said)


@pytest.mark.elasticsearch
def test_every_page_draws_against_the_elasticsearch_emulator(tmp_path_factory, page):
    from tests.es_emulator import EsEmulator
    from tests.integration.test_dashboard_es_emulator import ship

    now = time.time()
    records = seed_records(1000, now - 6 * 86400, now - 600, seed=11)
    with EsEmulator(tmp_path_factory.mktemp("es")) as emu:
        # In a thread of its own: Playwright's sync API keeps an event loop running here.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(ship, emu.url, records).result()
        with served_dashboard("--elasticsearch", emu.url) as url:
            for _file, title, path, _icon in NAVIGATION:
                shown = visit(page, f"{url}/{path}{RANGE}")
                assert not shown.exceptions, (path, shown.exceptions)
                assert not shown.errors, (path, shown.errors)
                assert title in shown.text and "Source: elasticsearch" in shown.text
                screenshot(page, f"elasticsearch-{path}")


def test_an_unreachable_elasticsearch_is_a_plain_message_on_every_page(page):
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    with served_dashboard("--elasticsearch", dead) as url:
        for _file, _title, path, _icon in NAVIGATION:
            shown = visit(page, f"{url}/{path}")
            assert not shown.exceptions, (path, shown.exceptions)
            assert any(dead in e for e in shown.errors), (path, shown.errors)
