"""Help text is written once, in the catalogue: what the agent exports says the same, both
ways, and no collector module writes a help text of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.app import Agent
from agent.catalogue import load_catalogue
from agent.config import Settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
DEAD_UPSTREAM = "http://127.0.0.1:9"  # nothing listens: the vLLM collector fails, by design
# Exported here only with hardware this machine may lack: GPUs (the stand-in GPUs of
# tests/integration/test_collectors_agent.py cover them), readable RAPL counters, a vLLM.
NEEDS_HARDWARE = {"collectors.nvml", "collectors.vllm", "alerts"}
RAPL = "inferwatch_host_energy_consumed_joules_total"


async def exported_help(tmp_path) -> dict[str, str]:
    """{family name as declared: HELP} of the agent's /metrics page once the host collector
    reported CPU utilisation, a rate that needs two readings the kernel's CPU clock tells
    apart (the registry the Agent builds, rendered as its /metrics handler renders it)."""
    agent = Agent(Settings(store={"dir": str(tmp_path)}), DEAD_UPSTREAM)
    for _ in range(100):
        await agent.collectors.tick()
        page = agent.registry.render().decode()
        if "\nsystem_cpu_utilization_ratio " in page:
            break
        await asyncio.sleep(0.02)
    return {
        f.name + "_total" if f.type == "counter" else f.name: f.documentation
        for f in text_string_to_metric_families(page)
    }


async def test_every_exported_help_text_is_the_catalogue_s_both_ways(tmp_path):
    specs = load_catalogue()
    exported = await exported_help(tmp_path)
    wrong = {n: h for n, h in exported.items() if n not in specs or specs[n].help != h}
    assert not wrong, f"exported with a help text the catalogue does not hold: {wrong}"
    expected = {n for n, s in specs.items() if s.source not in NEEDS_HARDWARE} - {RAPL}
    assert expected - set(exported) == set(), "declared, but not exported by this agent"
    assert len(exported) >= 60  # the whole page was read, not a part of it


def test_no_collector_module_writes_a_help_text_of_its_own():
    sources = {p: p.read_text() for p in (ROOT / "collectors").glob("*.py")}
    copies = [
        (p.name, s.name)
        for s in load_catalogue().values()
        for p, text in sources.items()
        if s.help[:40] in text
    ]
    assert not copies, f"help texts written a second time (take them from the catalogue): {copies}"
