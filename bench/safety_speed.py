"""Time the safety filters on a 4 KB prompt, beside presidio-analyzer and detect-secrets.

Run: PYTHONPATH=. python bench/safety_speed.py [--rounds N]
Prints p50/p90 per call in microseconds and the ratio to inferwatch's own scanner, all
measured side by side in one run on one core: an ordinary 4 KB prompt, a PII-dense one,
the inline request check with redaction, and the streamed-output filter per token.
"""

from __future__ import annotations

import argparse
import logging
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


def prompt_dense() -> str:
    """A 4 KB prompt with a hit of most PII and secret kinds in every paragraph."""
    para = (
        "Customer Ana Silva (ana.silva@fastbank.de, +49 30 12345678, (415) 555-2671) paid with "
        "4111 1111 1111 1111; refund to DE89 3704 0044 0532 0130 00. Server 10.0.3.17 logged "
        "key AKIAIOSFODNN7EXAMPLE and ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 at 09:30. "
    )
    return (para * (4096 // len(para) + 1))[:4096]


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
    ctx.__enter__()  # kept entered for the whole benchmark (and referenced: a collected
    # context manager would exit and quietly turn every plugin off)
    return lambda text, _ctx=ctx: [list(scan_line(line)) for line in text.splitlines()]


def _row(name: str, p50: float, p90: float, base: float) -> None:
    print(f"{name:52s} p50 {p50:9.1f} us  p90 {p90:9.1f} us  x{p50 / base:8.2f}")


def scanners(rounds: int) -> None:
    """Our scanner (with and without the Hyperscan prefilter) against the two libraries."""
    from agent.safety.rules import BUILTIN_RULES
    from agent.safety.scanner import Scanner

    ours, plain = Scanner(BUILTIN_RULES), Scanner(BUILTIN_RULES, prefilter=False)
    # Built once: detect-secrets' settings are global, and a second context would reset them.
    contenders = [
        ("inferwatch, all families (Hyperscan prefilter + re)", ours.scan),
        ("inferwatch, all families, re only (no prefilter)", plain.scan),
        ("presidio-analyzer, 6 PII pattern recognizers", presidio_fn()),
        ("detect-secrets, default plugins, line by line", detect_secrets_fn()),
    ]
    for label, text in (
        ("ordinary 4 KB prompt", prompt_4k()),
        ("PII-dense 4 KB prompt", prompt_dense()),
    ):
        print(f"\n{label} ({len(text)} chars), {rounds} rounds; ratio to the first row")
        base = None
        for name, fn in contenders:
            slow = "presidio" in name or "detect" in name
            p50, p90 = timeit(fn, text, max(rounds // 10, 5) if slow else rounds)
            base = base or p50
            _row(name, p50, p90, base)


def inline_paths(rounds: int) -> None:
    """The request-path work: inspect_request on a chat body, and stream filtering."""
    import copy

    from agent.safety.stream import StreamFilter

    engine = SafetyEngine(SafetyConfig(actions={"pii": "redact", "secret": "block"}))
    print(f"\ninline paths (pii redact, secrets block), {rounds} rounds")
    body = {"messages": [{"role": "user", "content": prompt_4k()}]}
    p50, p90 = timeit(lambda b: engine.inspect_request(copy.deepcopy(b), "chat"), body, rounds)
    _row("inspect_request, 4 KB chat body (incl. deepcopy)", p50, p90, p50)
    text = prompt_4k()
    deltas = [text[i : i + 4] for i in range(0, len(text), 4)]

    def stream(_):
        f = StreamFilter(engine)
        for d in deltas:
            f.feed(d)
        f.finish()

    p50s, p90s = timeit(stream, "", max(rounds // 10, 5))
    n = len(deltas)
    _row(f"stream filter, per 4-char delta ({n} deltas, window 256)", p50s / n, p90s / n, p50s / n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=300, help="timed calls per contender")
    args = ap.parse_args()
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # presidio's offline warnings
    # The machine is shared: this pure-Python loop (~10 us when idle) says how busy it was.
    p50, _ = timeit(lambda _: sum(range(1000)), "", args.rounds)
    print(f"calibration: sum(range(1000)) p50 {p50:.1f} us")
    scanners(args.rounds)
    inline_paths(args.rounds)


if __name__ == "__main__":
    main()
