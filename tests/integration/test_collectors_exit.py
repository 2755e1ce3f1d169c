"""A collector call that never returns must not keep the agent's process from exiting:
runs a child Python process that starts a runner with a stuck collector and stops it."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_a_call_that_never_returns_does_not_keep_the_process_from_exiting():
    code = """
import asyncio, time
from collectors.config import CollectorsConfig
from collectors.registry import CollectorRunner

class Stuck:
    name = "stuck"
    def collect(self):
        time.sleep(3600)

async def main():
    runner = CollectorRunner([Stuck()], CollectorsConfig(timeout_s=0.01))
    await runner.tick()
    await runner.stop()

asyncio.run(main())
print("exited")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "exited"
