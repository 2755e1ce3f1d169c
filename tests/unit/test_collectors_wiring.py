"""Collector switches on the command line and in settings, and the agent hooks."""

from __future__ import annotations

import argparse

import pytest
from prometheus_client import CollectorRegistry

from agent.config import load_settings
from collectors.wiring import (
    add_collector_flags,
    attach_collectors,
    collector_overrides,
    local_port,
)

pytestmark = pytest.mark.unit


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_collector_flags(p)
    return p.parse_args(argv)


def test_flags_switch_collectors_and_dcgm_compat():
    args = parse("--no-collector.nvml", "--collector.host", "--collector.nvml.dcgm-compat")
    over = collector_overrides(args)
    assert over == {"collectors": {"enabled": {"nvml": False, "host": True}, "dcgm_compat": True}}
    cfg = load_settings(overrides=over).collectors
    assert not cfg.is_enabled("nvml") and cfg.is_enabled("host") and cfg.dcgm_compat


def test_no_flags_no_overrides():
    assert collector_overrides(parse()) == {}


def test_every_flag_has_help():
    p = argparse.ArgumentParser()
    add_collector_flags(p)
    # argparse lists its actions nowhere public
    flagged = [a for a in p._actions if any(o.startswith("--collector") for o in a.option_strings)]
    assert len(flagged) >= 4 and all(a.help for a in flagged)


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("INFERWATCH_COLLECTORS__ENABLED__HOST", "false")
    monkeypatch.setenv("INFERWATCH_COLLECTORS__INTERVAL_S", "0.5")
    cfg = load_settings().collectors
    assert not cfg.is_enabled("host") and cfg.interval_s == 0.5


def test_unknown_collector_key_is_an_error():
    from agent.config import ConfigError

    with pytest.raises(ConfigError, match="collectors"):
        load_settings(overrides={"collectors": {"intervall_s": 1}})


def test_local_port_of_upstream():
    assert local_port("http://127.0.0.1:8001") == 8001
    assert local_port("http://localhost") == 80
    assert local_port("http://gpu-box:8001") is None
    assert local_port(None) is None


class FakeAgent:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.on_startup: list = []
        self.on_cleanup: list = []


async def test_attach_registers_and_hooks_start_stop():
    agent = FakeAgent()
    settings = load_settings(overrides={"collectors": {"enabled": {"nvml": False}}})
    runner = attach_collectors(agent, settings)
    assert runner.names == ["host"]
    await agent.on_startup[0](agent)
    await runner.tick()
    names = {m.name for m in agent.registry.collect()}
    assert "inferwatch_collector_success" in names and "system_memory_limit_bytes" in names
    await agent.on_cleanup[0](agent)
