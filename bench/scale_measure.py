"""What the scale-out simulation reads after each step: Prometheus (its HTTP API, its own
/metrics, its process), the agents' /metrics pages (raw and gzip), and the emulator's
document count and store size."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bench.scale_fleet import JOB


async def prom_query(s: aiohttp.ClientSession, base: str, q: str) -> float:
    """The single value of instant query `q` (NaN when it returns nothing)."""
    async with s.get(base + "/api/v1/query", params={"query": q}) as r:
        result = (await r.json())["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


async def prom_self(s: aiohttp.ClientSession, base: str, name: str) -> float:
    """A sample of Prometheus' own /metrics (e.g. prometheus_tsdb_head_series)."""
    async with s.get(base + "/metrics") as r:
        text = await r.text()
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            if sample.name == name:
                return sample.value
    return float("nan")


async def wait_scraped(s: aiohttp.ClientSession, base: str, n: int, timeout_s: float) -> None:
    """Until Prometheus has `n` healthy targets, each scraped at least twice since it appeared."""
    q = f'count(count_over_time(up{{job="{JOB}"}}[1h]) >= 2 and up{{job="{JOB}"}} == 1)'
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await prom_query(s, base, q) >= n:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"Prometheus did not scrape {n} agents within {timeout_s:g} s")


async def page_bytes(s: aiohttp.ClientSession, url: str) -> tuple[int, int, str]:
    """One /metrics page asked for as Prometheus asks (Accept-Encoding: gzip): its raw size,
    its gzip size (Go's default level, as a compressing exposition would send it), and the
    Content-Encoding the agent actually answered with."""
    headers = {"Accept-Encoding": "gzip", "Accept": "text/plain;version=0.0.4"}
    async with s.get(url + "/metrics", headers=headers) as r:
        raw = await r.read()  # aiohttp decompresses a gzip answer; `raw` is the page
        encoding = r.headers.get("Content-Encoding", "identity")
    return len(raw), len(gzip.compress(raw, compresslevel=6)), encoding


async def es_totals(s: aiohttp.ClientSession, es: str, pattern: str) -> tuple[int, int]:
    """(documents, store bytes) the emulator holds for `pattern`, after a refresh."""
    await (await s.post(f"{es}/{pattern}/_refresh")).release()
    async with s.get(f"{es}/{pattern}/_count") as r:
        count = (await r.json())["count"]
    async with s.get(f"{es}/{pattern}/_stats/store") as r:
        # No index yet (nothing shipped): `_all` has no store section.
        size = (await r.json())["_all"]["primaries"].get("store", {}).get("size_in_bytes", 0)
    return int(count), int(size)


async def wait_shipped(
    s: aiohttp.ClientSession, es: str, pattern: str, want: int, timeout_s: float
) -> float:
    """Seconds until the emulator holds `want` documents (the agents' drain time after the
    traffic stopped); NaN when it did not within `timeout_s`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if (await es_totals(s, es, pattern))[0] >= want:
            return time.monotonic() - t0
        await asyncio.sleep(0.25)
    return float("nan")


def block_stats(data: Path) -> dict | None:
    """Samples, series and chunk bytes of Prometheus' compacted blocks (meta.json stats
    and the chunks folders), or None when no block has been cut yet."""
    metas = [p for p in data.glob("*/meta.json") if (p.parent / "chunks").is_dir()]
    if not metas:
        return None
    samples = series = chunk_bytes = 0
    for meta in metas:
        stats = json.loads(meta.read_text())["stats"]
        samples += stats.get("numSamples", 0)
        series += stats.get("numSeries", 0)
        chunk_bytes += sum(f.stat().st_size for f in (meta.parent / "chunks").iterdir())
    total = sum(f.stat().st_size for m in metas for f in m.parent.rglob("*") if f.is_file())
    return {
        "blocks": len(metas),
        "samples": samples,
        "series": series,
        "chunk_bytes": chunk_bytes,
        "block_bytes": total,
    }
