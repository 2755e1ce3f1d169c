"""A stand-in bulk endpoint (not Elasticsearch): answers every `_bulk` item 201 at once,
so a benchmark can measure the shipper's own capacity apart from the server's. Run it
as a subprocess: `python bench/null_bulk.py PORT`."""

from __future__ import annotations

import sys

import orjson
from aiohttp import web

_PRODUCT = {"X-Elastic-Product": "Elasticsearch"}


async def bulk(request: web.Request) -> web.Response:
    lines = (await request.read()).split(b"\n")
    items = []
    for action in lines[::2]:
        if action.strip():
            meta = next(iter(orjson.loads(action).values()))
            items.append({"create": {"_id": meta["_id"], "_index": meta["_index"], "status": 201}})
    body = orjson.dumps({"took": 0, "errors": False, "items": items})
    return web.Response(body=body, content_type="application/json", headers=_PRODUCT)


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"acknowledged": True}, headers=_PRODUCT)


def main(port: int) -> None:
    app = web.Application(client_max_size=512 * 1024 * 1024)
    app.router.add_route("*", "/_bulk", bulk)
    app.router.add_route("*", "/{tail:.*}", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
