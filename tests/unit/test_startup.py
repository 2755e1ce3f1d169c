"""What `inferwatch up` checks before starting, and its ready banner in --upstream mode."""

from __future__ import annotations

import pytest

from agent.config import load_settings
from agent.startup import upstream_banner

pytestmark = pytest.mark.unit


def test_upstream_banner_names_where_to_look_and_masks_the_upstreams_password(tmp_path):
    settings = load_settings(
        overrides={
            "store": {"dir": str(tmp_path)},
            "elasticsearch": {"url": "https://elastic:esPass9@es:9200"},
        }
    )
    text = upstream_banner("http://127.0.0.1:8000", "http://u:upPass8@vllm:8001", settings, True)
    for want in (
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.1:8000/metrics",
        "http://127.0.0.1:8000/health",
        "http://u:********@vllm:8001 (up)",
        str(tmp_path / "requests.sqlite3"),
        "https://elastic:********@es:9200",
    ):
        assert want in text
    assert "upPass8" not in text and "esPass9" not in text
