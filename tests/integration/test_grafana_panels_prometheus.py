"""Every panel query of the Grafana boards returns data from a real Prometheus that
scraped a live agent under traffic: the agent stands in front of the scripted fake
upstream (not vLLM) with the stand-in NVML library (tests/nvml_stub) for its GPUs,
alerts, cost, safety and a canary experiment switched on (tests/grafana_traffic.py). One
run for the module; the assertions are per board, so a failure names the board and lists
every empty panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from agent.pipeline import MemorySink
from tests import grafana_panels as gp
from tests import grafana_prometheus as gprom
from tests.alertmanager_server import prometheus
from tests.conftest import start_app
from tests.fake_upstream import FakeUpstream
from tests.grafana_traffic import NVML_EXTRA, agent_settings, steady, traffic
from tests.nvml_stub import stub

pytestmark = [
    pytest.mark.integration,
    pytest.mark.prometheus,
    pytest.mark.asyncio(loop_scope="module"),
]
nvml_lib = stub.nvml_lib  # fixture

BOARDS = ["serving", "cost", "gpus", "safety", "health", "experiments"]
RULES = Path(__file__).parents[2] / "alerts" / "rules" / "recording.yml"
SCRAPE_S = 1.0
NO_ES = "no Elasticsearch configured here (shipping is proven against the emulator elsewhere)"
NO_SHADOW = "one experiment at a time: the agent here runs a canary, not a shadow"
# Panels that may be empty here, each for a stated reason: (board file, panel title,
# refId) -> why. Counters of failures and drops start at 0 for every known reason (the
# agent initialises them), so a healthy agent fills those panels with zeros.
MAY_BE_EMPTY: dict[tuple[str, str, str], str] = {
    ("inferwatch-gpus.json", "Host energy per second", "A"): "RAPL is not readable here",
    ("inferwatch-health.json", "Documents shipped", "A"): NO_ES,
    ("inferwatch-health.json", "Shipper failures", "A"): NO_ES,
    ("inferwatch-health.json", "Shipper failures", "B"): NO_ES,
    ("inferwatch-experiments.json", "Shadow copies by outcome", "A"): NO_SHADOW,
    ("inferwatch-experiments.json", "Shadow outcome share", "A"): NO_SHADOW,
}


def rules_every_second(tmp: Path) -> Path:
    """recording.yml with each group's own `interval` dropped, so every group is evaluated
    at the global 1 s: the cost-anomaly group's 1 m would leave its band unevaluated for
    up to a minute of this test (the expressions are unchanged)."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for g in groups:
        g.pop("interval", None)
    out = tmp / "recording.yml"
    out.write_text(yaml.safe_dump({"groups": groups}))
    return out


class Receiver:
    """A webhook receiver that answers 200, so notifications are counted as sent."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_post("/hook", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def scraped_agent(nvml_lib: Path, tmp: Path) -> AsyncIterator[tuple[str, gp.Window]]:
    """Serve the agent (fake upstream, stand-in GPUs, a webhook receiver), run Prometheus
    scraping it, send the traffic; yields (Prometheus URL, the window holding it all)."""
    script = stub.write_script(tmp / "nvml.txt", 3, NVML_EXTRA)
    async with contextlib.AsyncExitStack() as stack:
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("NVML_STUB_CONFIG", str(script))
        up_url = await served(stack, FakeUpstream().app)
        rx_url = await served(stack, Receiver().app)
        over = agent_settings(str(nvml_lib), str(tmp / "store"), rx_url, up_url)
        agent = Agent(load_settings(None, over), up_url, [MemorySink()])
        runner = await serve(agent, "127.0.0.1", 0)
        stack.push_async_callback(runner.cleanup)
        url = f"http://127.0.0.1:{bound_port(runner)}"
        prom = await stack.enter_async_context(
            prometheus(tmp, gprom.prometheus_config(url, SCRAPE_S, [rules_every_second(tmp)]))
        )
        await gprom.first_scrape(prom)
        start = time.time()
        await traffic(url, n=60, tokens=5, seconds=7.0)  # drift's reference: short answers
        # Then long answers, streamed slowly: drift, and the requests' share of the GPUs'
        # cost jumps (a cost anomaly).
        await traffic(url, n=60, tokens=60, seconds=7.0, chunk_s=0.002)
        stack.push_async_callback(stopped, asyncio.create_task(steady(url, 0.1, 60, 0.002)))
        await asyncio.sleep(5 * SCRAPE_S)  # scrapes and rule evaluations of the last phase
        yield prom, gp.Window(start, time.time(), SCRAPE_S)


async def stopped(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def served(stack: contextlib.AsyncExitStack, app: web.Application) -> str:
    runner, url = await start_app(app)
    stack.push_async_callback(runner.cleanup)
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def evaluated(nvml_lib, tmp_path_factory):
    """Every target of the boards, evaluated once for the module."""
    tmp = tmp_path_factory.mktemp("grafana-panels")
    async with scraped_agent(nvml_lib, tmp) as (prom, window):
        yield await gprom.evaluate_boards(prom, window, gp.board_paths(BOARDS))


@pytest.mark.parametrize("board", BOARDS)
async def test_every_panel_of_the_board_returns_data(evaluated, board):
    results = evaluated[f"inferwatch-{board}.json"]
    assert results, f"{board}: no Prometheus targets found"
    empty = gprom.empty_panels(results, MAY_BE_EMPTY)
    assert not empty, f"{len(empty)} empty panel queries:\n" + "\n".join(empty)


@pytest.mark.parametrize("board", BOARDS)
async def test_the_lists_of_empty_panels_hold_no_stale_entry(evaluated, board):
    name = f"inferwatch-{board}.json"
    keys = {(r.target.board, r.target.panel, r.target.ref_id): r for r in evaluated[name]}
    listed = [k for k in MAY_BE_EMPTY if k[0] == name]
    assert not [k for k in listed if k not in keys], "listed but not on the board"
    filled = [k for k in listed if not keys[k].empty()]
    assert not filled, f"these return data now: take them off MAY_BE_EMPTY: {filled}"
