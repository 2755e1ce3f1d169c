"""The signature of a webhook body: `X-Inferwatch-Signature: t=<unix seconds>,v1=<hex>`.

`v1` is the hex HMAC-SHA256, keyed with the receiver's secret, of `"<t>.<raw body>"`: the
timestamp is signed with the body, so a receiver that refuses old timestamps refuses a
replayed delivery, and one that checks the raw bytes (before parsing) needs no canonical
JSON. The scheme is Stripe's, whose receivers' habits carry over. The README shows the
same `verify` as a self-contained snippet for receivers.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Inferwatch-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed with `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: float) -> str:
    """The header value for `body` sent at `now` (epoch seconds)."""
    t = int(now)
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    header: str, body: bytes, secret: str, tolerance_s: float = 300, now: float | None = None
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within
    `tolerance_s` of `now` (default: the clock). Any `v1` may match (a sender rotating its
    secret sends one per key); the comparison takes constant time."""
    fields = [part.partition("=") for part in header.split(",")]
    stamps = [v for k, _, v in fields if k.strip() == "t"]
    candidates = [v.strip() for k, _, v in fields if k.strip() == "v1"]
    if len(stamps) != 1 or not _is_int(stamps[0].strip()) or not candidates:
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False  # stale or from the future: a replay, or a clock far off
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


def _is_int(text: str) -> bool:
    # str.isdigit alone accepts digits int() refuses, such as "²".
    return text.isascii() and text.isdigit()
