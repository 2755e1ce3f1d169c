"""The `up` flags of the store and shipping, and what the agent builds of them."""

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


def test_the_store_sink_and_shipper_are_built_only_as_configured(tmp_path):
    plain = Agent(load_settings(overrides={"store": {"dir": str(tmp_path)}}), "http://x:1")
    assert plain.pipeline.sink_names() == ["store"] and plain.shipper is None
    off = load_settings(overrides={"store": {"enabled": False}})
    assert Agent(off, "http://x:1").pipeline.sink_names() == []
    es = {"store": {"dir": str(tmp_path)}, "elasticsearch": {"url": "http://127.0.0.1:9"}}
    assert Agent(load_settings(overrides=es), "http://x:1").shipper is not None
