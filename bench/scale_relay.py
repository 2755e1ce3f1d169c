"""A byte-counting relay in front of the Elasticsearch-API emulator: every agent ships
through it, so the bytes the agents send to `_bulk` (the NDJSON bodies, action lines and
documents, as the official client sends them) are counted on the wire."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

# Hop-by-hop and length headers are the relay's own business on each side; bodies are
# relayed as they came (still compressed), so their Content-Encoding goes with them.
_DROP = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class BulkBytes:
    """What went through `_bulk`: requests, body bytes, and documents (NDJSON pairs)."""

    requests: int = 0
    body_bytes: int = 0
    docs: int = 0


class Relay:
    """Forwards every request to `target` unchanged; counts `_bulk` bodies in `bulk`."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.bulk = BulkBytes()
        self.app = web.Application(client_max_size=256 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._forward)
        self.app.on_startup.append(self._open)
        self.app.on_cleanup.append(self._close)
        self._session: aiohttp.ClientSession | None = None

    async def _open(self, app: web.Application) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)

    async def _close(self, app: web.Application) -> None:
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.path.endswith("/_bulk"):
            self._count(body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        url = self.target + request.path_qs
        async with self._session.request(request.method, url, data=body, headers=headers) as r:
            payload = await r.read()
            out = {k: v for k, v in r.headers.items() if k.lower() not in _DROP}
            return web.Response(status=r.status, body=payload, headers=out)

    def _count(self, body: bytes) -> None:
        self.bulk.requests += 1
        self.bulk.body_bytes += len(body)
        # NDJSON: one action line and one source line per document (create/index).
        self.bulk.docs += body.count(b"\n") // 2
