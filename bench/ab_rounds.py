"""The interleaved rounds of the base/head comparison against one upstream: every round runs
each scenario on direct, base and head, back to back or mixed in one batch, and keeps a
Batch per target."""

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
    requests: dict[str, int]  # scenario label -> requests per target per batch
    mixed: bool = False  # all targets in one batch, their requests in turn (else one by one)


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


def groups(r: int, mixed: bool) -> list[list[str]]:
    """Round r's targets, one batch each in turn, or all in one mixed batch."""
    return [order(r)] if mixed else [[t] for t in order(r)]


async def _group(session, phase: Phase, meter: _CpuMeter, s: Scenario, targets) -> dict:
    """One batch of `targets` together (their requests taken in turn); a Batch per target."""
    batches = {t: Batch([]) for t in targets}
    for t in targets:
        if t != "direct":
            meter.start(t, batches[t])
    urls = {t: phase.direct_url if t == "direct" else phase.agents[t].url for t in targets}
    n, body = phase.requests[s.label], phase.bodies[s.label]
    got = await ab_load.run_mixed(session, urls, body, n, s.concurrency)
    for t, (samples, errors) in got.items():
        if not samples:  # no figure can come of it: the upstream or an agent is down
            raise RuntimeError(f"{s.label} {t}: every request failed: {errors[0]}")
        batches[t].samples, batches[t].errors = samples, errors
    return batches


async def run_phase(phase: Phase, scens: list[Scenario], rounds: int, tick) -> None:
    """A warm-up round (discarded), then `rounds` kept rounds; `tick(text)` after each batch."""
    meter = _CpuMeter(phase.agents)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for r in range(rounds + 1):
            for s in scens:
                kept = {}
                for targets in groups(r, phase.mixed):
                    kept |= await _group(session, phase, meter, s, targets)
                    tick(f"{'warm-up' if r == 0 else f'round {r}'} {s.label} {'+'.join(targets)}")
                if r > 0:
                    s.rounds.append(kept)
        await meter.close_all()
