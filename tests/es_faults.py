"""A fault-injecting HTTP proxy in front of the Elasticsearch emulator (a test stand-in).

For `_bulk` requests it answers chosen documents itself, with a 429 or 500 item, the
first `times` times it sees them (those documents are not forwarded); everything else
goes to the emulator, and the answers are merged back in order. It counts how often
each `_id` was sent, so a test can tell a retried document from a looping one. With
`max_body`, a `_bulk` request whose body is larger is refused whole with 413 and an HTML
page, as nginx's `client_max_body_size` does (its documents are not counted as sent).
"""

from __future__ import annotations

from collections import Counter

import aiohttp
import orjson
from aiohttp import web

_ERRORS = {429: "es_rejected_execution_exception", 500: "internal_server_error"}


class BulkFaultProxy:
    """Plan: `{_id: (status, times)}`."""

    def __init__(
        self, target: str, plan: dict[str, tuple[int, int]], max_body: int | None = None
    ) -> None:
        self.target = target
        self.plan = dict(plan)
        self.max_body = max_body
        self.too_large: list[int] = []  # body sizes refused with 413
        self.sent: Counter[str] = Counter()
        self.injected: Counter[int] = Counter()
        self.app = web.Application(client_max_size=200 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.Response:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = await request.read()
        if request.method in ("POST", "PUT") and request.path.endswith("/_bulk"):
            if self.max_body is not None and len(body) > self.max_body:
                self.too_large.append(len(body))
                page = "<html><head><title>413 Request Entity Too Large</title></head></html>"
                return web.Response(status=413, text=page, content_type="text/html")
            return await self._bulk(request, body)
        return await self._forward(request, body)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in _PASS}
        async with self._session.request(
            request.method, self.target + request.rel_url.path_qs, data=body, headers=headers
        ) as resp:
            data = await resp.read()
            ctype = resp.headers.get("content-type", "application/json")
            headers = {"content-type": ctype, **_PRODUCT}
            return web.Response(status=resp.status, body=data, headers=headers)

    async def _bulk(self, request: web.Request, body: bytes) -> web.Response:
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]  # create: 2 lines
        forward, answers = [], []
        for action, source in pairs:
            meta = next(iter(orjson.loads(action).values()))
            self.sent[meta["_id"]] += 1
            answers.append(self._injected(meta))
            if answers[-1] is None:
                forward += [action, source]
        items = iter(await self._send(request, forward))
        merged = [a if a is not None else next(items) for a in answers]
        errors = any(next(iter(i.values())).get("status", 200) >= 300 for i in merged)
        body = {"took": 1, "errors": errors, "items": merged}
        return web.json_response(body, headers=_PRODUCT)

    def _injected(self, meta: dict) -> dict | None:
        status, times = self.plan.get(meta["_id"], (0, 0))
        if self.sent[meta["_id"]] > times:
            return None
        self.injected[status] += 1
        error = {"type": _ERRORS[status], "reason": "injected by the test proxy"}
        return {
            "create": {
                "_index": meta["_index"],
                "_id": meta["_id"],
                "status": status,
                "error": error,
            }
        }

    async def _send(self, request: web.Request, lines: list[bytes]) -> list[dict]:
        if not lines:
            return []
        headers = {"content-type": request.headers.get("content-type", "application/x-ndjson")}
        async with self._session.post(
            self.target + request.rel_url.path_qs, data=b"\n".join(lines) + b"\n", headers=headers
        ) as resp:
            return (await resp.json(content_type=None))["items"]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


_PASS = {"content-type", "accept", "authorization"}
_PRODUCT = {"X-Elastic-Product": "Elasticsearch"}  # the official client checks it
