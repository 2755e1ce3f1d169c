"""Event-loop lag of the agent, measured from outside: a GET of `/health/live` (a handler
that does nothing but answer) every `--interval-ms` over one kept-alive connection, from a
process of its own, so that the load generator's own busy loop is not in the figure.

The request waits behind every callback ready on the agent's loop, so its latency is the
loop's lag plus the cost of one trivial request (the at-rest latency). Prints one line per
sample, `<CLOCK_MONOTONIC seconds> <latency ms>`, until stdin closes or it is signalled.
CLOCK_MONOTONIC is one clock for the whole machine, so the harness can cut the samples into
its phases.

    python bench/streams_probe.py --url http://127.0.0.1:8000 --interval-ms 20
"""

from __future__ import annotations

import argparse
import http.client
import signal
import sys
import time
from urllib.parse import urlsplit


def probe(url: str, interval_s: float, timeout_s: float) -> None:
    """Sample until SIGTERM; a failed request prints its time and `nan` and reconnects."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    while True:
        t0 = time.monotonic()
        try:
            conn.request("GET", "/health/live")
            conn.getresponse().read()
            ms = (time.monotonic() - t0) * 1e3
        except (OSError, http.client.HTTPException):
            conn.close()
            ms = float("nan")
        print(f"{t0:.6f} {ms:.3f}", flush=True)
        time.sleep(max(0.0, interval_s - (time.monotonic() - t0)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--url", required=True, help="the agent's base URL")
    p.add_argument(
        "--interval-ms", type=float, default=20.0, help="time between samples (default 20)"
    )
    p.add_argument("--timeout-s", type=float, default=10.0, help="a sample slower than this is nan")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    probe(args.url, args.interval_ms / 1e3, args.timeout_s)


if __name__ == "__main__":
    main()
