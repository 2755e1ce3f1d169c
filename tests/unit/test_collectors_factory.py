"""Collectors register themselves (node_exporter's registerCollector): a new collector is one
module whose factory, default and description come with it, and the wiring builds the
enabled ones from the table and the settings."""

from __future__ import annotations

import argparse

import pytest

from agent.catalogue import spec
from collectors.base import Snapshot
from collectors.config import CollectorsConfig
from collectors.factory import COLLECTORS, CollectorContext, CollectorTable
from collectors.wiring import add_collector_flags, build_runner, collector_overrides

pytestmark = pytest.mark.unit


class Plain:
    def __init__(self, name: str) -> None:
        self.name = name

    def collect(self) -> Snapshot:
        return Snapshot(self.name, 0)


def table_with_two() -> CollectorTable:
    """A table holding `alpha` (on by default) and `beta` (off by default)."""
    table = CollectorTable()
    table.register("beta", False, "the beta thing")(lambda ctx: Plain("beta"))
    table.register("alpha", True, "the alpha thing")(lambda ctx: Plain("alpha"))
    return table


def test_the_built_in_collectors_register_themselves_in_name_order():
    table = COLLECTORS.registered()
    assert list(table) == ["host", "nvml", "vllm"]
    assert all(reg.default_enabled and reg.description for reg in table.values())


def test_the_runner_holds_the_enabled_ones_by_their_defaults_and_switches():
    table = table_with_two()
    assert build_runner(CollectorsConfig(), table=table).names == ["alpha"]
    on = CollectorsConfig(enabled={"beta": True, "alpha": False})
    assert build_runner(on, table=table).names == ["beta"]


def test_a_factory_gets_the_settings_and_the_upstream():
    seen: list[CollectorContext] = []
    table = CollectorTable()
    table.register("probe", True, "records its context")(lambda ctx: seen.append(ctx))
    cfg = CollectorsConfig(hostname="h1")
    runner = build_runner(cfg, "http://127.0.0.1:8001", table=table)
    assert runner.names == []  # a factory answering None builds nothing
    assert seen[0].config is cfg and seen[0].upstream_url == "http://127.0.0.1:8001"
    assert seen[0].vllm is not None


def test_a_collector_passed_in_replaces_the_registered_one_of_its_name():
    given = Plain("alpha")
    runner = build_runner(CollectorsConfig(), extra=[given, Plain("gamma")], table=table_with_two())
    assert runner.names == ["alpha", "gamma"]


def test_a_switch_for_no_collector_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"no collector named alpah \(known: alpha, beta\)"):
        build_runner(CollectorsConfig(enabled={"alpah": False}), table=table_with_two())


def test_a_name_claimed_by_two_factories_is_an_error():
    table = table_with_two()
    with pytest.raises(ValueError, match="'alpha' registered twice"):
        table.register("alpha", True, "another")(lambda ctx: Plain("alpha"))


def test_the_flags_come_with_the_registration():
    parser = argparse.ArgumentParser()
    table = table_with_two()
    add_collector_flags(parser, table)
    text = " ".join(parser.format_help().split())
    assert "--collector.beta, --no-collector.beta enable or disable the beta collector" in text
    assert "the beta thing (config: collectors.enabled.beta; default off)" in text
    args = parser.parse_args(["--collector.beta", "--no-collector.alpha"])
    over = collector_overrides(args, table)
    assert over == {"collectors": {"enabled": {"alpha": False, "beta": True}}}


def test_the_runner_describes_its_families_from_the_catalogue():
    runner = build_runner(CollectorsConfig(enabled={"nvml": False, "vllm": False}))
    described = {m.name: m.documentation for m in runner.describe()}
    assert described["system_memory_usage_bytes"] == spec("system_memory_usage_bytes").help
    assert "inferwatch_collector_success" in described
    assert not any(n.startswith("hw_gpu_") for n in described)  # nvml does not run
