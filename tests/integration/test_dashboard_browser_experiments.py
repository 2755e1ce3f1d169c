"""The Experiments page of a served dashboard in a real browser (Debian's chromium,
Playwright), on a store holding a split whose variant is slower and a canary rolled back
for its errors (tests/dashboard_experiments_seed.py): the verdicts, the rollback marker
and the gate's reason as a person sees them, saved as screenshots (test-artifacts/)."""

from __future__ import annotations

import time

import pytest

from dashboards.ui import fmt
from tests.dashboard_browser import missing_texts, screenshot, served_dashboard, visit
from tests.dashboard_experiments_seed import CANARY, REASON, SPLIT, seed_experiments
from tests.integration.test_dashboard_browser import browser, page  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def verdict_line(text: str, verdict: str) -> str:
    """The summary's line that starts with `verdict` (the page's text, line by line)."""
    return next((line for line in text.splitlines() if line.startswith(verdict)), "")


def test_the_experiments_page_shows_the_worse_metric_and_the_canarys_rollback(
    tmp_path,
    page,  # noqa: F811 (the fixture)
):
    t0 = time.time() - 3600  # an hour ago: the share's line runs on to now
    seed_experiments(tmp_path, t0)
    with served_dashboard("--data-dir", str(tmp_path)) as url:
        shown = visit(page, f"{url}/experiments?experiment={SPLIT}")
        assert not shown.exceptions and not shown.errors, (shown.exceptions, shown.errors)
        assert "latency" in verdict_line(shown.text, "worse")
        assert "error rate" in verdict_line(shown.text, "no difference")
        assert not missing_texts(page, ["stable", "fast-v2", "Effects with their 95% intervals"])
        screenshot(page, "store-experiments-split")

        shown = visit(page, f"{url}/experiments?experiment={CANARY}")
        assert not shown.exceptions and not shown.errors, (shown.exceptions, shown.errors)
        assert verdict_line(shown.text, "worse").split(None, 1)[1] == "error rate"
        assert f"Rolled back {fmt.when(t0 + 400)}, step 2 at 5%" in shown.text
        assert REASON in shown.text
        # The marker on the share's step line is drawn text in the chart's SVG.
        assert not missing_texts(page, ["rolled back", "Canary steps"])
        screenshot(page, "store-experiments-canary")
