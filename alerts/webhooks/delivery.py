"""One delivery attempt of a notification to a receiver, and what its outcome means.

Redirects are not followed: a 3xx is a failure (`redirect`, retried), so a receiver, or
whoever controls its DNS name, cannot steer the agent's signed alert to another host past
`alerts.allowed_hosts`. 2xx is `sent`; 408, 429 and 5xx are `failed` and retried, like a
timeout (`timeout`) or a connection error (`failed`); any other status is `refused`: the
receiver will not take this body, so retrying cannot help and it becomes a dead letter.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from agent import __version__
from alerts.model import Notification
from alerts.webhooks import formats, signing
from alerts.webhooks.config import WebhookConfig

SENT, FAILED, TIMEOUT, REFUSED, REDIRECT = "sent", "failed", "timeout", "refused", "redirect"
RESULTS = (SENT, FAILED, TIMEOUT, REFUSED, REDIRECT)
RETRIED = frozenset({FAILED, TIMEOUT, REDIRECT})
ANSWER_MAX = 512  # bytes of the receiver's answer kept for messages


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt gave: `result` (one of the names above), the HTTP status (None
    when no answer came), the seconds it took and a short detail for logs."""

    result: str
    status: int | None
    elapsed_s: float
    detail: str

    @property
    def retry(self) -> bool:
        """True when a later attempt may succeed."""
        return self.result in RETRIED


def classify(status: int) -> str:
    """The result an HTTP status means for a delivery."""
    if 200 <= status < 300:
        return SENT
    if 300 <= status < 400:
        return REDIRECT
    if status in (408, 429) or status >= 500:
        return FAILED
    return REFUSED


def request(hook: WebhookConfig, n: Notification, now: float) -> tuple[bytes, dict[str, str]]:
    """The body and headers of `n` for `hook`, signed at `now` when it has a secret."""
    body = formats.render(n, hook.format)
    headers = {
        **hook.headers,
        "Content-Type": "application/json",
        "User-Agent": f"inferwatch/{__version__}",
        # The receiver's way to drop the one duplicate at-least-once delivery can make.
        "Idempotency-Key": n.id,
    }
    if hook.secret is not None:
        headers[signing.HEADER] = signing.sign(hook.secret.get_secret_value(), body, now)
    return body, headers


async def attempt(
    session: aiohttp.ClientSession, hook: WebhookConfig, n: Notification, now: float
) -> Outcome:
    """POST `n` to `hook` once, within `hook.timeout_s`; never raises for the receiver's
    failures."""
    body, headers = request(hook, n, now)
    start = time.perf_counter()
    try:
        async with asyncio.timeout(hook.timeout_s):
            async with session.post(
                hook.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                answer = await resp.content.read(ANSWER_MAX)
                result, status = classify(resp.status), resp.status
                detail = _detail(resp, answer)
    except TimeoutError:
        result, status, detail = TIMEOUT, None, f"no answer within {hook.timeout_s} s"
    except (aiohttp.ClientError, OSError) as err:
        result, status, detail = FAILED, None, f"{type(err).__name__}: {err}"
    return Outcome(result, status, time.perf_counter() - start, detail)


def _detail(resp: aiohttp.ClientResponse, answer: bytes) -> str:
    text = f"HTTP {resp.status}: {answer.decode('utf-8', 'replace')}"
    if "Location" in resp.headers:
        text += f" (redirect to {resp.headers['Location']} not followed: configure that URL)"
    return text
