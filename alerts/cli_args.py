"""Times, ranges and durations as the `inferwatch drift` and `inferwatch alerts` commands take them."""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str) -> float:
    """Epoch seconds from epoch seconds ("1700000000") or ISO-8601 ("2024-05-01T12:00Z";
    a time without an offset is UTC)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad time {text!r}: give ISO-8601 (2024-05-01T12:00:00Z) or epoch seconds"
            ) from None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"bad time {text!r}: not a finite number")
    return value


def parse_range(text: str) -> tuple[float, float]:
    """(start, end) from "START..END"; START must be before END."""
    start, sep, end = text.partition("..")
    if not sep or not start.strip() or not end.strip():
        raise argparse.ArgumentTypeError(f"bad range {text!r}: expected START..END")
    a, b = parse_time(start), parse_time(end)
    if a >= b:
        raise argparse.ArgumentTypeError(f"bad range {text!r}: START must be before END")
    return a, b


def parse_duration(text: str) -> float:
    """Seconds from "3600", "90m", "24h", "7d" (s, m, h, d, w), greater than zero."""
    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"bad duration {text!r}: give seconds or a number with s, m, h, d or w (90m, 24h, 7d)"
        )
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def show_time(t: float) -> str:
    """An epoch time as ISO-8601 UTC, to the second."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
