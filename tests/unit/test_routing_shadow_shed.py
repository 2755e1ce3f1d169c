"""Shadow copies give way when the agent's event loop is the bottleneck."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from agent.config import load_settings
from agent.metrics import new_registry
from agent.routing.loopbusy import LoopBusy
from agent.routing.shadow import Shadows
from agent.upstream import Upstream
from tests.experiment_upstreams import primary_record

pytestmark = pytest.mark.unit

UPS = [
    {"name": "a", "url": "http://a:1", "weight": 100},
    {"name": "b", "url": "http://127.0.0.1:9", "weight": 0},
]


def test_the_busy_ratio_is_the_loop_threads_cpu_over_wall_time_in_a_window():
    clock = {"cpu": 10.0, "wall": 100.0}
    busy = LoopBusy(cpu=lambda: clock["cpu"], wall=lambda: clock["wall"])
    clock["cpu"], clock["wall"] = 10.07, 100.1
    ratio, cpu, wall = busy.sample(10.0, 100.0)
    assert ratio == pytest.approx(0.7) and (cpu, wall) == (10.07, 100.1)
    assert busy.sample(10.07, 100.1)[0] == 0.0  # no time passed: 0, not a division by zero


def test_the_ratio_needs_two_busy_windows_in_a_row():
    busy = LoopBusy()
    busy.update(0.9)  # one burst (the agent's own start, a scrape)
    assert busy.ratio == 0.0
    busy.update(0.8)
    assert busy.ratio == 0.8
    busy.update(0.1)
    assert busy.ratio == 0.1


async def test_the_sampler_runs_on_the_loop_and_stops():
    busy = LoopBusy()
    await busy.start()
    end = asyncio.get_running_loop().time() + 0.35
    while asyncio.get_running_loop().time() < end:
        sum(range(20_000))  # keep the loop thread busy
        await asyncio.sleep(0)
    await busy.stop()
    assert busy.ratio > 0.05  # measured, not a constant (how busy: the machine decides)


class _Busy:
    ratio = 0.9

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class _Path:
    def __init__(self) -> None:
        self.begun: list = []

    def begin(self, request) -> None:
        self.begun.append(request)

    def finish(self, record) -> None:
        pass


@pytest.mark.parametrize("limit, shed", [(0.5, True), (1.0, False)])
async def test_copies_are_shed_while_the_loop_is_busier_than_the_limit(limit, shed):
    exp = {"name": "sh", "kind": "shadow", "control": "a", "variant": "b"}
    exp["shadow"] = {"max_loop_busy": limit}
    s = load_settings(None, {"upstreams": UPS, "experiments": [exp]})
    registry, instruments = new_registry()
    path = _Path()
    shadows = Shadows(s.experiments[0], s, path, None, instruments, _Busy())  # type: ignore[arg-type]
    primary = primary_record()
    up = Upstream(s.upstream, "http://127.0.0.1:9")
    task = shadows.launch(
        primary, up, "b", URL("http://127.0.0.1:9/v1/chat/completions"), {}, b"{}"
    )
    value = registry.get_sample_value(
        "inferwatch_experiment_shadow_requests_total", {"experiment": "sh", "outcome": "shed"}
    )
    if shed:
        assert task is None and value == 1 and path.begun == []
    else:
        assert task is not None and value is None and len(path.begun) == 1
        await shadows.stop()
        await up.close()
