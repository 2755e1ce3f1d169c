"""The collector registry: isolation of failing, hung and empty collectors, as node_exporter."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from collectors.base import DeviceInterval, Snapshot
from collectors.config import CollectorsConfig
from collectors.registry import CollectorRunner

pytestmark = pytest.mark.unit


def interval(device: str) -> DeviceInterval:
    return DeviceInterval(device, "cpu-core", 0, 1_000_000_000, 0.5, 1.0, None, 2.0)


class Good:
    name = "good"

    def collect(self) -> Snapshot:
        fam = GaugeMetricFamily("good_value", "A value.", value=42)
        return Snapshot(self.name, time.monotonic_ns(), (fam,), (interval("cpu:a"),))


class Broken:
    name = "broken"

    def collect(self) -> Snapshot:
        raise RuntimeError("driver exploded")


class Empty:
    name = "empty"

    def collect(self) -> Snapshot:
        return Snapshot(self.name, time.monotonic_ns(), no_data=True)


class Hung:
    """Blocks in collect() until released, like a driver call that never returns."""

    name = "hung"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed = False

    def collect(self) -> Snapshot:
        self.release.wait(30)
        fam = GaugeMetricFamily("hung_value", "A late value.", value=1)
        return Snapshot(self.name, time.monotonic_ns(), (fam,))

    def close(self) -> None:
        self.closed = True


def scrape(runner: CollectorRunner) -> dict[tuple[str, tuple], float]:
    reg = CollectorRegistry()
    reg.register(runner)
    text = generate_latest(reg).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def health(found: dict, metric: str, collector: str, **extra) -> float | None:
    return found.get((metric, tuple(sorted({"collector": collector, **extra}.items()))))


async def test_broken_collector_fails_alone():
    runner = CollectorRunner([Good(), Broken(), Empty()], CollectorsConfig(timeout_s=5))
    devices = await runner.tick()
    found = scrape(runner)
    assert health(found, "inferwatch_collector_success", "good") == 1
    assert health(found, "inferwatch_collector_success", "broken") == 0
    assert health(found, "inferwatch_collector_failures_total", "broken", reason="error") == 1
    assert found[("good_value", ())] == 42
    assert devices == [interval("cpu:a")]
    assert health(found, "inferwatch_collector_duration_seconds", "good") >= 0
    await runner.stop()


async def test_no_data_is_success_not_failure():
    runner = CollectorRunner([Empty()], CollectorsConfig())
    await runner.tick()
    found = scrape(runner)
    assert health(found, "inferwatch_collector_success", "empty") == 1
    assert health(found, "inferwatch_collector_no_data", "empty") == 1
    await runner.stop()


async def test_hung_collector_times_out_and_is_not_called_again_while_stuck():
    hung = Hung()
    runner = CollectorRunner([Good(), hung], CollectorsConfig(timeout_s=0.05))
    try:
        await runner.tick()
        await runner.tick()  # still stuck: not called a second time
        found = scrape(runner)
        assert health(found, "inferwatch_collector_success", "hung") == 0
        assert health(found, "inferwatch_collector_failures_total", "hung", reason="timeout") == 1
        assert health(found, "inferwatch_collector_failures_total", "hung", reason="busy") == 1
        assert health(found, "inferwatch_collector_success", "good") == 1
        assert ("hung_value", ()) not in found
    finally:
        hung.release.set()
    await asyncio.wrap_future(runner.state("hung").running)
    await runner.tick()  # returned: the next tick reads it again
    assert health(scrape(runner), "inferwatch_collector_success", "hung") == 1
    await runner.stop()
    assert hung.closed


async def test_scrape_does_not_wait_on_a_hung_collector():
    hung = Hung()
    runner = CollectorRunner([hung], CollectorsConfig(timeout_s=0.05))
    try:
        await runner.tick()
        done = threading.Event()
        t = threading.Thread(target=lambda: (scrape(runner), done.set()))
        t.start()
        t.join(10)
        assert done.is_set()
    finally:
        hung.release.set()
        await runner.stop()


async def test_subscribers_get_each_tick_and_one_failing_does_not_stop_others():
    got: list = []

    def bad(devices):
        raise ValueError("subscriber bug")

    async def good(devices):
        got.append(list(devices))

    runner = CollectorRunner([Good(), Broken()], CollectorsConfig())
    runner.subscribe(bad)
    runner.subscribe(good)
    await runner.tick()
    await runner.tick()
    assert got == [[interval("cpu:a")], [interval("cpu:a")]]
    await runner.stop()


async def test_a_late_collection_still_hands_its_device_interval_to_subscribers():
    class Slow(Hung):
        def collect(self) -> Snapshot:
            self.release.wait(30)
            return Snapshot(self.name, time.monotonic_ns(), (), (interval("cpu:late"),))

    slow, got = Slow(), []
    runner = CollectorRunner([slow], CollectorsConfig(timeout_s=0.05))
    runner.subscribe(lambda devices: got.append(list(devices)))
    assert await runner.tick() == []  # timed out: nothing this tick ...
    slow.release.set()
    for _ in range(100):
        if len(got) > 1:
            break
        await asyncio.sleep(0.01)
    assert got == [[], [interval("cpu:late")]]  # ... its interval when it ends, not lost
    await runner.stop()


async def test_loop_runs_periodically_until_stopped():
    ticks = asyncio.Queue()
    runner = CollectorRunner([Good()], CollectorsConfig(interval_s=0.01))
    runner.subscribe(ticks.put_nowait)
    runner.start()
    for _ in range(3):
        await asyncio.wait_for(ticks.get(), 10)
    await runner.stop()
    count = runner.ticks
    await asyncio.sleep(0.05)
    assert runner.ticks == count


class Slow:
    """Takes 3 intervals on its first call, then returns at once; notes when each call began."""

    name = "slow"

    def __init__(self) -> None:
        self.started: list[float] = []

    def collect(self) -> Snapshot:
        self.started.append(time.monotonic())
        if len(self.started) == 1:
            time.sleep(0.3)
        return Snapshot(self.name, time.monotonic_ns(), devices=(interval("s"),))


async def test_after_a_slow_tick_the_next_waits_a_whole_interval():
    # Run back to back, the next collection would measure rates over a millisecond (host CPU
    # time does not move in that): a slow tick is followed by a whole interval's wait.
    slow = Slow()
    runner = CollectorRunner([slow], CollectorsConfig(interval_s=0.1, timeout_s=5.0))
    ticks = asyncio.Queue()
    runner.subscribe(ticks.put_nowait)
    runner.start()
    for _ in range(2):
        await asyncio.wait_for(ticks.get(), 10)
    await runner.stop()
    first, second = slow.started[:2]
    assert second - first >= 0.3 + 0.1 - 0.01


def test_config_switches_and_timeouts():
    cfg = CollectorsConfig(enabled={"nvml": False}, timeouts={"vllm": 3.0}, timeout_s=1.5)
    assert not cfg.is_enabled("nvml") and cfg.is_enabled("host")
    assert cfg.timeout_for("vllm") == 3.0 and cfg.timeout_for("host") == 1.5
