"""What one finished request costs the agent after its response: the record path alone.

Builds a whole agent (default settings: safety, store, cost; its collectors are not
started) in this process and feeds it requests as the proxy would, without HTTP: the
safety state checks a chat request and its JSON response, the record goes down
the record path (store early write, safety, cost, metrics), a stand-in collector tick every
`--per-tick` requests shares the cost out and releases the records to the pipeline and
the SQLite store. Prints the process CPU per request (the store's writer thread
included) of the whole path and of each stage on its own (same run, interleaved), and
with `--profile` the hottest functions of the event-loop thread.

This is the part of the agent's per-request CPU that `bench/proxy_overhead.py` cannot
separate from the HTTP work: there, `agent CPU ms per request` minus the proxy core's.

Run: `PYTHONPATH=. python bench/record_path.py [--requests N] [--profile]`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time

from agent.app import Agent
from agent.config import load_settings
from agent.record import OP_CHAT, RequestRecord
from agent.recordpath import InFlight
from collectors.base import DeviceInterval

BODY = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. " * 4},
        {"role": "user", "content": "Summarise the quarterly report in three bullet points."},
    ],
    "max_tokens": 64,
}
RESPONSE = (
    b'{"id":"c","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"Revenue grew 4%; costs fell; outlook '
    b'stable."},"finish_reason":"stop"}],"usage":{"prompt_tokens":60,"completion_tokens":16,'
    b'"total_tokens":76}}'
)

STAGES = {
    "whole path": {},
    "no safety": {"safety": {"enabled": False}},
    "no store": {"store": {"enabled": False}},
    "no cost": {"cost": {"enabled": False}},
    "none (pipeline only)": {
        "safety": {"enabled": False},
        "store": {"enabled": False},
        "cost": {"enabled": False},
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=5000, help="requests per run (default 5000)")
    p.add_argument("--per-tick", type=int, default=100, help="requests per cost tick (100)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--profile", action="store_true", help="cProfile the whole path once")
    return p.parse_args(argv)


async def run(overrides: dict, n: int, per_tick: int, profile: cProfile.Profile | None) -> float:
    """CPU seconds of the process per request for n requests through a fresh agent."""
    with tempfile.TemporaryDirectory() as tmp:
        off = {"enabled": {"nvml": False, "host": False, "vllm": False}}  # ticks fed by hand
        settings = load_settings(overrides={"store": {"dir": tmp}, "collectors": off, **overrides})
        agent = Agent(settings, "http://127.0.0.1:9")
        await agent.start()
        path, stage = agent.path, agent.safety
        t0 = time.monotonic_ns()
        last = t0
        c0 = time.process_time()
        if profile:
            profile.enable()
        for i in range(n):
            start = time.monotonic_ns()
            rid = f"r{i}"
            path.begin(InFlight(rid, start, "default", "m", False))
            state = stage.request(OP_CHAT, rid)
            if state is not None:
                state.check_request(dict(BODY))
                state.check_response(RESPONSE)
            rec = RequestRecord(
                rid, "0" * 32, "0" * 16, "default", "m", OP_CHAT, "/v1/chat/completions",
                False, time.time(), start, time.monotonic_ns(), None, "m", 60, 16, "stop",
            )  # fmt: skip
            path.finish(rec)
            if (i + 1) % per_tick == 0:
                await asyncio.sleep(0)  # the loop runs the stages' tasks, as between requests
                now = time.monotonic_ns()
                iv = DeviceInterval("cpu:h", "cpu-core", last, now, (now - last) / 1e9, 0.1, None)
                last = now
                if agent.cost is not None:
                    agent.cost.on_intervals([iv])
                await asyncio.sleep(0)
        for _ in range(50):  # let the pipeline and the writer finish
            await asyncio.sleep(0.01)
        if agent.store is not None:
            await asyncio.wrap_future(agent.store.flush())
        if profile:
            profile.disable()
        cpu = time.process_time() - c0
        await agent.stop()
        return cpu / n


def main() -> None:
    args = parse_args()
    results: dict[str, list[float]] = {k: [] for k in STAGES}
    for r in range(args.rounds):
        names = list(STAGES)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            cpu = asyncio.run(run(STAGES[name], args.requests, args.per_tick, None))
            results[name].append(cpu)
    base = statistics.median(results["none (pipeline only)"])
    print(f"{args.requests} requests per run, a cost tick every {args.per_tick}, median of "
          f"{args.rounds} interleaved rounds (process CPU, writer thread included)")  # fmt: skip
    print(f"{'stages':24} {'us/request':>11} {'over pipeline only':>19}")
    for name, values in results.items():
        us = statistics.median(values) * 1e6
        print(f"{name:24} {us:11.1f} {us - base * 1e6:19.1f}")
    if args.profile:
        prof = cProfile.Profile()
        asyncio.run(run({}, args.requests, args.per_tick, prof))
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
