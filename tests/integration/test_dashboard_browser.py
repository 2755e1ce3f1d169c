"""Every page of a served dashboard in a real browser (Debian's chromium, Playwright):
drawn without a Streamlit exception or error, showing figures that match the seeded
request log, and saved as a screenshot (test-artifacts/, kept by CI)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dashboards.navigation import NAVIGATION
from dashboards.ui import fmt
from tests.dashboard_browser import CHROMIUM, missing_texts, screenshot, served_dashboard, visit
from tests.dashboard_seed import frame_of, seed_records, write_store

pytestmark = [pytest.mark.integration, pytest.mark.browser]

N = 3000
RANGE = "?range=7d"
# Pages that read something besides the request log (alerts.db, metric series, the
# store's experiments).
OWN_SOURCES = ("alerts", "gpus", "experiments")


def _range(path: str) -> str:
    # Drift compares the range with the day before it: one day, so both hold data.
    return "?range=1d" if path == "drift" else RANGE


def address(url: str, path: str) -> str:
    """A page's address: the default page (Overview) is the app's root."""
    return f"{url}/" if path == NAVIGATION[0][2] else f"{url}/{path}"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A data folder as an agent leaves it: a store with N requests spread over the last
    6 days (all inside "Last 7 days" however long the test takes) and ten minutes of
    metric snapshots of two GPUs, both written by the agent's own code, and an alerts.db
    written by the real detectors, engine and outbox. Returns the folder, the records as
    a frame and what went into alerts.db."""
    from agent.store.config import StoreConfig
    from agent.store.samples import Sampler
    from tests.dashboard_alerts_seed import seed_alerts
    from tests.unit.test_dashboard_gpus_view import families

    now = time.time()
    records = seed_records(N, now - 6 * 86400, now - 600, seed=7)
    folder = tmp_path_factory.mktemp("dashboard-store")
    write_store(folder, records)
    snapshots = iter(range(21))
    sampler = Sampler(StoreConfig(dir=folder), lambda: families(next(snapshots)))
    for k in range(21):
        assert sampler.once(now=now - 630 + 30 * k)
    alerts = seed_alerts(folder, now)
    return folder, frame_of(records), alerts


def expected_texts(df, alerts) -> dict[str, list[str]]:
    """Per page, figures it must show, computed from what was seeded."""
    errors = (df["status"] != "ok").mean()
    return {
        "overview": [fmt.count(len(df)), fmt.share(errors, 2)],
        "cost": [fmt.money(df["cost_amount"].sum(), "USD"), "acme", "qwen2-7b"],
        "requests": ["upstream_error", "length"],
        "drift": ["Dataset verdict", "Compared"],
        "alerts": [alerts.anomalies[0].labels["alertname"], *alerts.delivered],
        "gpus": ["NVIDIA L4", "NVIDIA H100 80GB HBM3"],
        "safety": [fmt.count(df["safety_hits"].sum()), "pii.email", "secret.aws_key"],
        "experiments": ["No experiments in the store yet"],  # the seed routes no experiment
    }


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


def test_every_page_shows_the_seeded_figures_without_an_exception(seeded, page):
    folder, df, alerts = seeded
    expected = expected_texts(df, alerts)
    with served_dashboard("--data-dir", str(folder)) as url:
        for _file, title, path, _icon in NAVIGATION:
            shown = visit(page, address(url, path) + _range(path))
            assert not shown.exceptions, (path, shown.exceptions)
            assert not shown.errors, (path, shown.errors)
            assert not shown.dialogs, (path, shown.dialogs)
            assert title in shown.text
            missing = missing_texts(page, expected[path])
            assert not missing, (path, missing)
            screenshot(page, f"store-{path}")


def test_a_missing_store_is_a_plain_message_on_every_page(tmp_path, page):
    with served_dashboard("--data-dir", str(tmp_path / "nothing-here")) as url:
        for _file, _title, path, _icon in NAVIGATION:
            shown = visit(page, address(url, path))
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
    df = frame_of(records)
    expected = {  # the pages that read the request log (alerts.db and series are local)
        "overview": [fmt.count(len(df))],
        "cost": [fmt.money(df["cost_amount"].sum(), "USD")],
        "requests": ["upstream_error", "length"],
        "safety": [fmt.count(df["safety_hits"].sum()), "injection"],
        "drift": ["Dataset verdict", "Compared"],  # the drift code's Elasticsearch source
    }
    with EsEmulator(tmp_path_factory.mktemp("es")) as emu:
        # In a thread of its own: Playwright's sync API keeps an event loop running here.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(ship, emu.url, records).result()
        with served_dashboard("--elasticsearch", emu.url) as url:
            for _file, title, path, _icon in NAVIGATION:
                shown = visit(page, address(url, path) + _range(path))
                assert not shown.exceptions, (path, shown.exceptions)
                assert not shown.errors, (path, shown.errors)
                assert title in shown.text and "Source: elasticsearch" in shown.text
                missing = missing_texts(page, expected.get(path, []))
                assert not missing, (path, missing)
                screenshot(page, f"elasticsearch-{path}")


def test_an_unreachable_elasticsearch_is_a_plain_message_on_every_page(page):
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    with served_dashboard("--elasticsearch", dead) as url:
        for _file, _title, path, _icon in NAVIGATION:
            shown = visit(page, address(url, path))
            assert not shown.exceptions, (path, shown.exceptions)
            if path in OWN_SOURCES:  # alerts.db, series, experiments: none for a fleet here
                assert shown.errors + shown.notes, path
            else:
                assert any(dead in e for e in shown.errors), (path, shown.errors)


def test_auto_refresh_reruns_the_page_on_its_own(seeded, page):
    folder, *_ = seeded
    with served_dashboard("--data-dir", str(folder)) as url:
        visit(page, f"{url}/safety?range=1h&refresh=10")
        caption = page.get_by_text("read at", exact=False).first
        first = caption.inner_text()
        # The page's own timer reruns it: the time it was read moves, nobody clicked.
        page.wait_for_function(
            "old => [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
            ".some(e => e.innerText.includes('read at') && e.innerText !== old)",
            arg=first,
            timeout=30_000,
        )
        assert page.get_by_role("combobox").count() >= 1  # still the page, drawn again
