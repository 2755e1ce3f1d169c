"""Tiny HTTP helpers for tests."""

from __future__ import annotations

import aiohttp
import orjson


async def post(url: str, body=None, headers: dict | None = None, raw: bytes | None = None):
    """POST JSON (or raw bytes); returns (status, headers, body bytes)."""
    async with aiohttp.ClientSession() as s:
        data = raw if raw is not None else orjson.dumps(body)
        h = {"Content-Type": "application/json", **(headers or {})}
        async with s.post(url, data=data, headers=h) as r:
            return r.status, r.headers.copy(), await r.read()


async def get(url: str):
    """GET; returns (status, headers, body bytes)."""
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, r.headers.copy(), await r.read()
