"""The interleaved rounds of the base/head comparison against one upstream: every round runs
each scenario on direct, base and head back to back, and keeps a Batch per target."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from bench import ab_load
from bench.ab_stats import Batch, Scenario
from bench.proxy_procs import Server

SETTLE_S = 2.0  # after the last batch, for the agents' background work of it to finish


def order(r: int) -> list[str]:
    """Round r's order: direct first, then base and head alternating (ABAB...), so drift on a
    shared machine and a slot's position hit both refs alike over an even number of rounds."""
    return ["direct", "base", "head"] if r % 2 == 0 else ["direct", "head", "base"]


@dataclass
class Phase:
    """One upstream, the agents in front of it, and what each scenario sends."""

    direct_url: str
    agents: dict[str, Server]
    bodies: dict[str, bytes]  # scenario label -> request body
    requests: dict[str, int]  # scenario label -> requests per batch


class _CpuMeter:
    """An agent's CPU seconds charged to its batch until its next batch starts, so that
    background work a batch leaves behind (store writes, records) counts for that batch."""

    def __init__(self, agents: dict[str, Server]) -> None:
        self.agents, self.open = agents, {}

    def start(self, target: str, batch: Batch) -> None:
        now = self.agents[target].cpu_s()
        self.close(target, now)
        self.open[target] = (now, batch)

    def close(self, target: str, now: float) -> None:
        if target in self.open:
            then, batch = self.open.pop(target)
            batch.cpu_s = now - then

    async def close_all(self) -> None:
        await asyncio.sleep(SETTLE_S)
        for target in list(self.open):
            self.close(target, self.agents[target].cpu_s())


async def _batch(session, phase: Phase, meter: _CpuMeter, s: Scenario, target: str) -> Batch:
    batch = Batch([])
    url = phase.direct_url if target == "direct" else phase.agents[target].url
    if target != "direct":
        meter.start(target, batch)
    n = phase.requests[s.label]
    batch.samples, batch.errors = await ab_load.run(
        session, url, phase.bodies[s.label], n, s.concurrency
    )
    if not batch.samples:  # no figure can come of it: the upstream or an agent is down
        raise RuntimeError(f"{s.label} {target}: every request failed: {batch.errors[0]}")
    return batch


async def run_phase(phase: Phase, scens: list[Scenario], rounds: int, tick) -> None:
    """A warm-up round (discarded), then `rounds` kept rounds; `tick(text)` after each batch."""
    meter = _CpuMeter(phase.agents)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for r in range(rounds + 1):
            for s in scens:
                kept = {}
                for target in order(r):
                    kept[target] = await _batch(session, phase, meter, s, target)
                    tick(f"{'warm-up' if r == 0 else f'round {r}'} {s.label} {target}")
                if r > 0:
                    s.rounds.append(kept)
        await meter.close_all()
