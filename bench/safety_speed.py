"""Time the safety filters on a 4 KB prompt, beside presidio-analyzer and detect-secrets.

Run: python bench/safety_speed.py [--rounds N]
Prints p50/p90 per call in microseconds and the ratio to inferwatch's own scanner, all
measured side by side in one run on one core.
"""

from __future__ import annotations

import argparse
import statistics
import time

from agent.safety.config import SafetyConfig
from agent.safety.engine import SafetyEngine

_PARAGRAPH = (
    "Our quarterly review covers the deployment of the recommendation service to the "
    "eu-west cluster on 2024-03-14 at 09:30 UTC. Order #A-2024-558812 shipped late; the "
    "customer asked why build 3.11.4 regressed latency by 12.5% (p99 880 ms vs 610 ms). "
    "def handler(event):\n    return {'status': 200, 'id': '123e4567-e89b-12d3-a456-426614174000'}\n"
    "The commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 fixed the cache key; please review "
    "the diff and summarise the risk for the on-call engineers in three bullet points. "
)


def prompt_4k() -> str:
    """About 4096 characters of ordinary prompt text with numbers, code, ids and no PII."""
    text = (_PARAGRAPH * (4096 // len(_PARAGRAPH) + 1))[:4000]
    return text + " Contact jane.roe@example.org for access."  # one real hit, as prompts have


def timeit(fn, text: str, rounds: int) -> tuple[float, float]:
    """(p50, p90) of `fn(text)` in microseconds."""
    for _ in range(5):
        fn(text)
    samples = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        fn(text)
        samples.append((time.perf_counter_ns() - t) / 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def presidio_fn():
    """presidio-analyzer's pattern recognizers for the same PII kinds (no spaCy model)."""
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    recs = [
        EmailRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
        PhoneRecognizer(),
    ]
    return lambda text: [r.analyze(text, r.supported_entities, None) for r in recs]


def detect_secrets_fn():
    """detect-secrets' default plugins, line by line, as its scanner feeds them."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    ctx = default_settings()
    ctx.__enter__()  # kept entered for the whole benchmark
    return lambda text: [list(scan_line(line)) for line in text.splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=300, help="timed calls per contender")
    args = ap.parse_args()
    text = prompt_4k()
    engine = SafetyEngine(SafetyConfig())
    ours = lambda t: engine.scan(t)  # noqa: E731
    contenders = [("inferwatch (all families)", ours)]
    contenders.append(("presidio-analyzer (6 PII pattern recognizers)", presidio_fn()))
    contenders.append(("detect-secrets (default plugins)", detect_secrets_fn()))
    print(f"prompt: {len(text)} chars, rounds: {args.rounds}")
    base = None
    for name, fn in contenders:
        p50, p90 = timeit(fn, text, args.rounds)
        base = base or p50
        print(f"{name:48s} p50 {p50:9.1f} us  p90 {p90:9.1f} us  x{p50 / base:7.1f}")


if __name__ == "__main__":
    main()
