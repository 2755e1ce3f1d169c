"""How long the safety scan of one big request holds the event loop.

A probe task sleeps 1 ms in a loop and records the longest gap between its wake-ups while
one request whose body is ~2 MiB of card-like digit groups goes through the safety stage
(check_request, then finish and its off-path scan), once with flag-only filters and once
with `pii: redact`. Prints the longest gap and the time until the record came back.
Before the scan budget and the scan thread (fcbcd46) both held the loop ~0.5 s.

Usage: python -m bench.safety_stall [--mib 2] [--rounds 3] [--budget-kib 1024] [--prose]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from agent.record import OP_CHAT
from agent.safety.config import SafetyConfig
from agent.safety.engine import SafetyEngine
from agent.safety.stage import SafetyStage
from tests.records import make_record


async def _probe(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def one(config: SafetyConfig, body_text: str) -> tuple[float, float]:
    """(longest loop gap, seconds until the record came back) for one big request."""
    stage = SafetyStage(SafetyEngine(config))
    await stage.start()
    stop, gaps = asyncio.Event(), []
    probe = asyncio.create_task(_probe(stop, gaps))
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    done = asyncio.get_running_loop().create_future()
    state = stage.request(OP_CHAT, "r1")
    body = {"model": "m", "messages": [{"role": "user", "content": body_text}]}
    check = getattr(state, "check_request_async", None)
    if check is not None:
        await check(body)
    else:
        state.check_request(body)
    stage.connect(done.set_result)
    stage.process(make_record("r1"))
    await done
    took = time.perf_counter() - t0
    await asyncio.sleep(0.01)
    stop.set()
    await probe
    await stage.stop()
    return max(gaps), took


async def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Prints, per round and mode (flag-only, "
        "redact), the longest event-loop gap and when the record came back.",
    )
    p.add_argument("--mib", type=float, default=2.0, help="body size in MiB (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per mode (default 3)")
    p.add_argument(
        "--budget-kib",
        type=int,
        default=None,
        help="safety.max_scan_bytes in KiB (default: the config's default, 1 MiB)",
    )
    p.add_argument(
        "--prose", action="store_true", help="plain English text with no hits instead of cards"
    )
    args = p.parse_args()
    unit = "4111 1111 1111 1111\n"  # one valid test card a line: a hit each
    if args.prose:
        unit = "The quick brown fox jumps over the lazy dog near the river bank. "
    text = unit * int(args.mib * 1024 * 1024 / len(unit))
    budget = {} if args.budget_kib is None else {"max_scan_bytes": args.budget_kib * 1024}
    for name, config in (
        ("flag-only", SafetyConfig(**budget)),
        ("redact", SafetyConfig(actions={"pii": "redact"}, **budget)),
    ):
        for _ in range(args.rounds):
            gap, took = await one(config, text)
            print(
                f"{name:9s} {args.mib} MiB: longest loop gap {gap * 1e3:7.1f} ms, record after {took * 1e3:7.1f} ms"
            )


if __name__ == "__main__":
    asyncio.run(main())
