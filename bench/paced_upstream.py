"""bench/instant_upstream.py with a model's pace: a streamed answer's first token comes
after `--ttft-ms` and each next one after `--itl-ms` (asyncio sleeps, no CPU), so the
proxy in front waits on it as it waits on a model server; `--itl-jitter-ms J` draws each
gap uniformly from itl +- J (a GPU's steps are not a metronome). With both at 0 it is the
instant upstream. Non-streamed answers come after `--ttft-ms`.

Run: `python bench/paced_upstream.py --port 8001 --ttft-ms 20 --itl-ms 2`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path

import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import instant_upstream as iu  # noqa: E402


def make_app(ttft_s: float, itl_s: float, jitter_s: float = 0.0) -> web.Application:
    """The upstream's application, pacing its answers (gaps uniform in itl +- jitter)."""

    async def generate(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        if ttft_s:
            await asyncio.sleep(ttft_s)
        if body.get("stream") is not True:
            return web.Response(body=iu._COMPLETION, content_type="application/json")
        n = int(body.get("max_tokens") or 16)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(iu._ROLE)
        for i in range(n):
            if itl_s and i:
                await asyncio.sleep(itl_s + random.uniform(-jitter_s, jitter_s))
            await resp.write(iu._TOKEN)
        await resp.write(iu._FINISH)
        if (body.get("stream_options") or {}).get("include_usage") is True:
            await resp.write(iu._usage_event(n))
        await resp.write(iu._DONE)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", generate)
    app.router.add_post("/v1/completions", generate)
    app.router.add_get("/health", iu.health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay to the first token")
    parser.add_argument("--itl-ms", type=float, default=0.0, help="delay between tokens")
    parser.add_argument(
        "--itl-jitter-ms",
        type=float,
        default=0.0,
        help="each gap drawn uniformly from itl +- this (default 0; at most --itl-ms)",
    )
    parser.add_argument(
        "--backlog", type=int, default=128, help="listen backlog (raise it for many streams)"
    )
    args = parser.parse_args()
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    jitter = min(args.itl_jitter_ms, args.itl_ms) / 1e3
    app = make_app(args.ttft_ms / 1e3, args.itl_ms / 1e3, jitter)
    web.run_app(
        app, host=args.host, port=args.port, access_log=None, print=None, backlog=args.backlog
    )


if __name__ == "__main__":
    main()
