"""agent/stallwatch.py: a loop blocked on purpose is reported with its length, the stack of
what blocked it, the full garbage collection inside it, and how little CPU it used; off
unless the environment names a file."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import time

import pytest

from agent.stallwatch import ENV, ENV_MS, StallWatch, watch_from_env

pytestmark = pytest.mark.unit

BLOCK_S = 0.5  # far over the 50 ms threshold, so a busy machine still sees it late


def _block_the_loop() -> None:
    gc.collect()
    time.sleep(BLOCK_S)  # no CPU: a loop that waits without running


async def _stall_once(watch: StallWatch) -> None:
    watch.start(asyncio.get_running_loop())
    await asyncio.sleep(0.05)
    _block_the_loop()
    await asyncio.sleep(0.1)  # the next beat reports the gap
    watch.stop()


def test_a_blocked_loop_is_reported_with_its_stack_gc_and_cpu():
    out = io.StringIO()
    asyncio.run(_stall_once(StallWatch(out)))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    stall = max(lines, key=lambda x: x["gap_ms"])
    assert stall["gap_ms"] >= BLOCK_S * 1e3 * 0.9
    assert any("_block_the_loop" in s for s in stall["stacks"])
    assert any(g["gen"] == 2 for g in stall["gc"])
    # The sleep used no CPU: all the loop thread's CPU fits in the gap less the sleep (the
    # full collection before it runs on the CPU, ~0.8 s in a test session's big heap).
    assert stall["loop_thread_cpu_ms"] < stall["gap_ms"] - BLOCK_S * 1e3 * 0.8


def test_no_file_in_the_environment_starts_nothing():
    async def main():
        return watch_from_env({}, asyncio.get_running_loop())

    assert asyncio.run(main()) is None


def test_a_file_in_the_environment_gets_the_stalls(tmp_path):
    path = tmp_path / "stalls.jsonl"

    async def main():
        watch = watch_from_env({ENV: str(path)}, asyncio.get_running_loop())
        await asyncio.sleep(0.05)
        _block_the_loop()
        await asyncio.sleep(0.1)
        watch.stop()

    asyncio.run(main())
    assert max(json.loads(x)["gap_ms"] for x in path.read_text().splitlines()) >= 400


def test_a_threshold_that_is_not_a_number_is_a_clear_error(tmp_path):
    async def main():
        env = {ENV: str(tmp_path / "s.jsonl"), ENV_MS: "fast"}
        return watch_from_env(env, asyncio.get_running_loop())

    with pytest.raises(ValueError, match="INFERWATCH_STALL_WATCH_MS must be milliseconds"):
        asyncio.run(main())


@pytest.mark.parametrize("ms", ["0", "-5", "nan", "inf"])
def test_a_threshold_that_is_not_a_positive_time_is_a_clear_error(tmp_path, ms):
    path = tmp_path / "s.jsonl"

    async def main():
        return watch_from_env({ENV: str(path), ENV_MS: ms}, asyncio.get_running_loop())

    with pytest.raises(ValueError, match=f"must be milliseconds > 0, got '{ms}'"):
        asyncio.run(main())
    assert not path.exists()  # refused before the file is opened


class _FullDisk(io.StringIO):
    def write(self, s: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_write_that_fails_loses_that_line_and_the_watch_goes_on(caplog):
    watch = StallWatch(_FullDisk())

    async def main():
        watch.start(asyncio.get_running_loop())
        for _ in range(2):  # the second stall is seen only if the heartbeat survived
            await asyncio.sleep(0.05)
            _block_the_loop()
            await asyncio.sleep(0.1)
        watch.stop()

    asyncio.run(main())
    assert watch.lost >= 2
    said = [r.getMessage() for r in caplog.records if "stall watch" in r.getMessage()]
    assert said == [
        "stall watch: a line could not be written ([Errno 28] No space left on device); lines lost"
    ]
