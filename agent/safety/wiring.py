"""Plugs the safety stage into a built `Agent` through its public hooks."""

from __future__ import annotations

from agent.safety.engine import SafetyEngine
from agent.safety.stage import SafetyStage


def install_safety(agent) -> SafetyStage:
    """Build the engine and stage from `agent.settings.safety`, hand it to the proxy, and
    start/stop its off-path worker with the app. Returns the stage."""
    config = agent.settings.safety
    stage = SafetyStage(
        SafetyEngine(config),
        agent.instruments["inferwatch_safety_filter_hits_total"],
        config.background_queue,
    )
    agent.proxy.safety = stage

    async def start(_agent) -> None:
        stage.start()

    async def stop(_agent) -> None:
        await stage.close()

    agent.on_startup.append(start)
    # First on the way out: records still waiting for their off-path check reach the
    # pipeline before anything downstream stops.
    agent.on_cleanup.insert(0, stop)
    return stage
