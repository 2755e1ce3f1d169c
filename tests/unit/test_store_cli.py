"""The `up` flags of the store and shipping, and `attach_store` wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.app import Agent
from agent.cli import build_parser, settings_from
from agent.config import load_settings

pytestmark = pytest.mark.unit


def test_up_flags_set_the_store_folder_and_elasticsearch_url(tmp_path):
    args = build_parser().parse_args(
        ["up", "--elasticsearch", "http://127.0.0.1:9200/", "--data-dir", str(tmp_path)]
    )
    settings = settings_from(args)
    assert settings.elasticsearch.url == "http://127.0.0.1:9200"
    assert settings.store.path == Path(tmp_path) / "requests.sqlite3"


def test_attach_store_adds_the_sink_and_shipper_hooks_only_as_configured(tmp_path):
    plain = Agent(load_settings(overrides={"store": {"dir": str(tmp_path)}}), "http://x:1")
    assert [s.name for s in plain.pipeline._sinks] == ["store"]
    assert sum(h.__qualname__.startswith("attach_store") for h in plain.on_startup) == 1
    off = load_settings(overrides={"store": {"enabled": False}})
    assert Agent(off, "http://x:1").pipeline._sinks == []
