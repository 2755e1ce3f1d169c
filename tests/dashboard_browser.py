"""Driving a served dashboard with a real browser: Debian's chromium through Playwright.

`served_dashboard` runs `inferwatch dashboard` as a real process; `visit` opens one page,
waits until Streamlit has finished drawing it, and returns what it shows (its text, and
whether Streamlit shows an exception); `screenshot` saves the page where CI keeps it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
# CI keeps this folder (the README shows two of its pictures).
SCREENSHOTS = Path(
    os.environ.get("INFERWATCH_SCREENSHOTS", Path(__file__).parents[1] / "test-artifacts")
)


@contextlib.contextmanager
def served_dashboard(*flags: str, timeout: float = 60):
    """`inferwatch dashboard <flags> --listen 127.0.0.1:<free port>`; yields its base URL.
    Stopped (SIGTERM, then SIGKILL) when the block ends."""
    port = free_port()
    cmd = [sys.executable, "-m", "agent.cli", "dashboard", *flags, "--listen", f"127.0.0.1:{port}"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        dashboard_process(cmd, f"http://127.0.0.1:{port}", Path(tmp) / "dashboard.log", timeout),
    ):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def dashboard_process(cmd: list[str], url: str, log: Path, timeout: float = 60):
    """Run `cmd` (a Streamlit dashboard serving `url`) with its output in `log` (a pipe
    nobody reads would fill and stall it); yield the process once `/_stcore/health` says
    ok; SIGTERM at the end, SIGKILL after 15 s."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, proc, log, timeout)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dashboard exited: {log.read_text(errors='replace')}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r,
        ):
            if r.read() == b"ok":
                return
        time.sleep(0.2)
    raise AssertionError("dashboard never became healthy")


@dataclass
class Shown:
    """What a page showed once drawn."""

    text: str
    exceptions: list[str]
    errors: list[str]
    notes: list[str]  # info and warning boxes
    dialogs: list[str]  # e.g. Streamlit's "Page not found"


def visit(page, url: str, timeout_ms: int = 60_000) -> Shown:
    """Open `url` in the Playwright `page`, wait until the app is drawn and idle."""
    page.goto(url)
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=timeout_ms)
    _settle(page, timeout_ms)
    main = page.locator('[data-testid="stMain"]')
    return Shown(
        text=main.inner_text(),
        exceptions=page.locator('[data-testid="stException"]').all_inner_texts(),
        errors=page.locator('[data-testid="stAlertContentError"]').all_inner_texts(),
        notes=page.locator(
            '[data-testid="stAlertContentInfo"], [data-testid="stAlertContentWarning"]'
        ).all_inner_texts(),
        dialogs=page.locator('[role="dialog"]').all_inner_texts(),
    )


# Streamlit's app root says when the script run has ended (the status widget can be
# absent for a moment while a slow page still runs).
SCRIPT_DONE = (
    "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
    " return a && a.getAttribute('data-test-script-state') === 'notRunning'"
    " && !document.querySelector('[data-testid=\"stStatusWidget\"]'); }"
)


# Every Plotly chart drawn: its SVG is there (plotly.js is loaded on the first page that
# has a chart, after the script run; its legends are text a test looks for).
CHARTS_DRAWN = (
    "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
    ".every(c => c.querySelector('svg.main-svg'))"
)


def _settle(page, timeout_ms: int) -> None:
    """Wait until Streamlit says the script run has ended, every chart is drawn, and the
    text of the page stopped changing."""
    page.wait_for_function(SCRIPT_DONE, timeout=timeout_ms)
    page.wait_for_function(CHARTS_DRAWN, timeout=timeout_ms)
    before, deadline = None, time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        now = page.locator('[data-testid="stMain"]').inner_text()
        if now == before:
            return
        before = now
        page.wait_for_timeout(500)


def missing_texts(page, texts: list[str], timeout_ms: int = 20_000) -> list[str]:
    """Of `texts`, those the page's main area still does not show after waiting up to
    `timeout_ms` (charts draw their legends after the script ends, plotly.js itself is
    loaded on the first page that has a chart)."""
    main = page.locator('[data-testid="stMain"]')
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "texts => { const m = document.querySelector('[data-testid=\"stMain\"]');"
            " return m && texts.every(t => m.innerText.includes(t)); }",
            arg=list(texts),
            timeout=timeout_ms,
        )
    shown = main.inner_text()
    return [t for t in texts if t not in shown]


def screenshot(page, name: str) -> Path:
    """Save the whole page as `<SCREENSHOTS>/<name>.png`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
