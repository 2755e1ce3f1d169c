"""Waits of bench/gpu_check.sh, each with a time limit and a clear failure (exit 1):

python -m bench.gpu_wait up URL SECONDS            # URL answers 200
python -m bench.gpu_wait metric URL NAME SECONDS   # URL/metrics has a sample of NAME
python -m bench.gpu_wait drained URL SECONDS       # inferwatch_cost_records_held is 0
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fetch(url: str) -> str | None:
    """The body of a 200 answer, else None."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode() if resp.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None


def sample_value(page: str, name: str) -> float | None:
    """The first sample of `name` on a /metrics page (None when absent)."""
    for fam in text_string_to_metric_families(page):
        for s in fam.samples:
            if s.name == name:
                return s.value
    return None


def until(check, seconds: float, what: str) -> int:
    """Poll `check` twice a second until it holds (0) or `seconds` pass (1, said why)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return 0
        time.sleep(0.5)
    print(f"gpu_wait: gave up after {seconds:.0f} s waiting for {what}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run one wait."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in ("up", "metric", "drained"):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    kind, url, *rest = args
    if kind == "up":
        return until(lambda: fetch(url) is not None, float(rest[0]), f"{url} to answer 200")
    page = url.rstrip("/") + "/metrics"
    if kind == "metric":
        name = rest[0]
        return until(
            lambda: sample_value(fetch(page) or "", name) is not None,
            float(rest[1]),
            f"{name} on {page}",
        )
    return until(
        lambda: sample_value(fetch(page) or "", "inferwatch_cost_records_held") == 0,
        float(rest[0]),
        "the cost engine to release every held record",
    )


if __name__ == "__main__":
    raise SystemExit(main())
