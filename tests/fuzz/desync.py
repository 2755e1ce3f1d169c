"""Many concurrent clients through the agent, each with its own marker: who got whose answer?

A proxy that returns an upstream connection to its pool with unread bytes on it (an
`HTTP/1.1 100 Continue` taken for the final answer, say) hands one client's answer to the
next request on that connection. Each client here puts a unique marker in its prompt and
checks what comes back: the text (the uvicorn test upstream echoes the prompt; vLLM does
with `echo: true` on completions) and the response ids (the test upstream, and vLLM for
chat, build them from the `x-request-id` the agent forwarded, which the agent also returns
to the client). Clients use four transports: aiohttp, aiohttp with `expect100=True`, a bare
socket doing the `Expect: 100-continue` handshake itself, and curl with that header.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
from dataclasses import dataclass, field

import aiohttp
import orjson

from tests.fuzz.rawhttp import parse_response, send_expect_100

TRANSPORTS = ("aiohttp", "aiohttp-expect", "raw-expect", "curl-expect")
OPERATIONS = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}
# A client whose answer went to someone else waits forever: each one gives up after this.
CLIENT_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Plan:
    """One client's request."""

    marker: str
    operation: str  # "chat" | "completion"
    stream: bool
    transport: str


@dataclass(slots=True)
class Outcome:
    """What one client got back."""

    plan: Plan
    status: int
    request_id: str | None  # the agent's x-request-id response header
    text: str  # the completion text, stream events joined
    ids: set[str] = field(default_factory=set)  # every `id` in the body or its events
    informational: tuple[int, ...] = ()


def plans(n: int, seed: int = 15) -> list[Plan]:
    """n requests cycling through every (operation, stream, transport), with fresh markers."""
    rng = random.Random(seed)
    transports = [t for t in TRANSPORTS if t != "curl-expect" or shutil.which("curl")]
    combos = list(itertools.product(OPERATIONS, (False, True), transports))
    rng.shuffle(combos)
    tag = os.urandom(3).hex()
    return [
        Plan(f"mk{tag}x{i:03d}q", *combos[i % len(combos)])  # one token for most tokenizers
        for i in range(n)
    ]


def request_body(plan: Plan, model: str, max_tokens: int | None = None) -> dict:
    """The JSON body: the marker in the prompt; completions ask vLLM to echo the prompt."""
    prompt = f"repeat {plan.marker} please"
    if plan.operation == "chat":
        body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    else:
        body = {"model": model, "prompt": prompt, "echo": True}
    if plan.stream:
        body["stream"] = True
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def _read_body(content_type: str, body: bytes) -> tuple[str, set[str]]:
    """(completion text, ids) of a JSON answer or an SSE stream."""
    if content_type.startswith("text/event-stream"):
        objs = [orjson.loads(line[6:]) for line in body.split(b"\n") if line.startswith(b"data: {")]
    else:
        try:
            objs = [orjson.loads(body)]
        except orjson.JSONDecodeError:
            return body.decode("utf-8", "replace"), set()
    text, ids = [], set()
    for obj in objs:
        if not isinstance(obj, dict):
            continue
        if "id" in obj:
            ids.add(obj["id"])
        for c in obj.get("choices") or ():
            msg = c.get("message") or c.get("delta") or {}
            text.append(c.get("text") or msg.get("content") or "")
    return "".join(text), ids


async def _via_aiohttp(session, url: str, plan: Plan, data: bytes) -> Outcome:
    headers = {"Content-Type": "application/json"}
    expect = plan.transport == "aiohttp-expect"
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    post = session.post(url, data=data, headers=headers, expect100=expect, timeout=timeout)
    async with post as r:
        body = await r.read()
        text, ids = _read_body(r.headers.get("Content-Type", ""), body)
        return Outcome(plan, r.status, r.headers.get("x-request-id"), text, ids)


async def _via_raw(url: str, plan: Plan, data: bytes) -> Outcome:
    path = OPERATIONS[plan.operation].encode()
    headers = [(b"Content-Type", b"application/json")]
    async with asyncio.timeout(CLIENT_TIMEOUT_S):
        r = await send_expect_100(url, path, headers, data)
    text, ids = _read_body(r.header("content-type") or "", r.body)
    return Outcome(plan, r.status, r.header("x-request-id"), text, ids, r.informational)


async def _via_curl(url: str, plan: Plan, data: bytes) -> Outcome:
    # --raw keeps the chunked framing, so the output parses like a socket's bytes.
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--raw", "-i", "--max-time", str(CLIENT_TIMEOUT_S),
        "-H", "Content-Type: application/json",
        "-H", "Expect: 100-continue", "--data-binary", "@-", url + OPERATIONS[plan.operation],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate(data)
    r = parse_response(out)
    text, ids = _read_body(r.header("content-type") or "", r.body)
    return Outcome(plan, r.status, r.header("x-request-id"), text, ids, r.informational)


async def run_clients(
    url: str, all_plans: list[Plan], model: str, concurrency: int = 16, max_tokens=None
) -> list[Outcome]:
    """Send every plan through the agent at `url`, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def one(plan: Plan) -> Outcome:
            data = orjson.dumps(request_body(plan, model, max_tokens))
            async with gate:
                try:
                    if plan.transport.startswith("aiohttp"):
                        path = url + OPERATIONS[plan.operation]
                        return await _via_aiohttp(session, path, plan, data)
                    if plan.transport == "raw-expect":
                        return await _via_raw(url, plan, data)
                    return await _via_curl(url, plan, data)
                except (aiohttp.ClientError, OSError, ValueError, TimeoutError) as err:
                    # No usable answer at all (the agent hung up): status 0, and why.
                    return Outcome(plan, 0, None, f"no answer: {type(err).__name__}: {err}")

        return await asyncio.gather(*(one(p) for p in all_plans))


def wrong_answers(outcomes: list[Outcome], text_has_marker, id_of) -> list[str]:
    """Every sign of a cross-delivered or broken answer, one line each.

    `text_has_marker(outcome)`: whether this outcome's text must contain its own marker.
    `id_of(outcome)`: the response id this outcome must carry (built from its
    x-request-id), or None where the upstream's ids say nothing."""
    markers = {o.plan.marker for o in outcomes}
    problems = []
    for o in outcomes:
        where = f"{o.plan} (x-request-id {o.request_id})"
        if o.status != 200:
            problems.append(f"{where}: status {o.status}, text {o.text[:120]!r}")
            continue
        others = [m for m in markers - {o.plan.marker} if m in o.text]
        if others:
            problems.append(f"{where}: got the answer of {others}: {o.text[:120]!r}")
        if text_has_marker(o) and o.plan.marker not in o.text:
            problems.append(f"{where}: own marker missing from {o.text[:120]!r}")
        expected = id_of(o)
        if expected is not None and o.ids != {expected}:
            problems.append(f"{where}: response ids {sorted(o.ids)}, expected {expected}")
    return problems
