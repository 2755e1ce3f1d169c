"""The safety stage loads drift's text descriptors when it starts (before the agent
listens), not on the first record's turn of the event loop: that import (numpy, scipy)
held the loop for 0.4-1.7 s on the first request (bench/soak.py's stall watch)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from agent.safety.config import SafetyConfig
from agent.safety.stage import DESCRIBE_MODULE
from tests.unit.test_safety_stage import make

pytestmark = pytest.mark.unit


def _started(config: SafetyConfig) -> bool:
    """Start and stop a stage; whether the descriptors' module was loaded by then."""
    stage, _ = make(config)

    async def main():
        await stage.start()
        await stage.stop()

    asyncio.run(main())
    return DESCRIBE_MODULE in sys.modules


def test_starting_the_stage_loads_the_text_descriptors(monkeypatch):
    monkeypatch.delitem(sys.modules, DESCRIBE_MODULE, raising=False)  # restored after
    assert _started(SafetyConfig(text_descriptors=True))


def test_descriptors_off_loads_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, DESCRIBE_MODULE, raising=False)
    assert not _started(SafetyConfig(text_descriptors=False))
