"""The floor: a minimal aiohttp pass-through proxy with no measurement at all.

Same stack as the agent (aiohttp + uvloop, one pooled client session), forwards any request
and streams the answer back chunk by chunk as it arrives. What the agent adds over this
is the cost of measuring. Run: `python bench/floor_proxy.py --upstream URL --port P`.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
from aiohttp import web

_DROP = frozenset(
    ("host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade")
)


def _keep(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _DROP}


def make_app(upstream: str) -> web.Application:
    """A pass-through application in front of `upstream` (base URL, no trailing slash)."""

    async def forward(request: web.Request) -> web.StreamResponse:
        data = await request.read()
        session = request.app["session"]
        url = upstream + request.path_qs
        async with session.request(
            request.method, url, headers=_keep(request.headers), data=data
        ) as up:
            out = web.StreamResponse(status=up.status, headers=_keep(up.headers))
            await out.prepare(request)
            async for chunk in up.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out

    async def start(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=1024)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="upstream base URL")
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    args = parser.parse_args()
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = make_app(args.upstream.rstrip("/"))
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
