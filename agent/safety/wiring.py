"""Building the safety stage from settings."""

from __future__ import annotations

from agent.safety.config import SafetyConfig
from agent.safety.engine import SafetyEngine
from agent.safety.stage import SafetyStage


def build_safety_stage(config: SafetyConfig) -> SafetyStage:
    """The safety stage (its engine compiled from `config`): the proxy's inline checks
    and the record path's verdicts, redaction and off-path scans."""
    return SafetyStage(SafetyEngine(config), config.background_queue)
