"""One run of the scale-out simulation: start the central systems, grow the fleet step by
step, drive traffic, read each step's figures (see scale_out.py for the command line)."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from tqdm import tqdm

from bench import scale_measure as m
from bench.scale_fleet import JOB, AgentFleet, Prometheus, start_prometheus
from bench.scale_relay import Relay
from bench.scale_report import Step, series_groups
from bench.scale_traffic import Mix, drive, sweep
from tests.conftest import start_app
from tests.es_emulator import EsEmulator
from tests.fake_upstream import FakeUpstream

PATTERN = "logs-inferwatch-*"


@dataclass
class Outcome:
    """Everything a run measured."""

    steps: list[Step] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)  # one agent's series by group
    encoding: str = ""  # Content-Encoding the agents answered a gzip-accepting scrape with
    blocks: dict | None = None  # compacted Prometheus blocks' stats
    requests: int = 0
    failed: int = 0


async def run(args, root: Path) -> Outcome:
    """Start everything under `root`, run every step, stop everything."""
    out = Outcome()
    upstream, relay = FakeUpstream(), None
    up_runner, up_url = await start_app(upstream.app)
    es = EsEmulator(root / "es")
    await asyncio.to_thread(es.start)
    relay = Relay(es.url)
    relay_runner, relay_url = await start_app(relay.app)
    prom = await asyncio.to_thread(
        start_prometheus, root / "prom", args.scrape_interval, args.block_seconds
    )
    fleet = AgentFleet(up_url, relay_url, args.gpus, root / "agents")
    try:
        with tqdm(total=len(args.sizes) * 4, desc="scale-out", unit="stage") as bar:
            for n in args.sizes:
                out.steps.append(await _step(args, n, fleet, prom, es, relay, out, bar))
        out.blocks = await _wait_block(prom, args.block_seconds)
    finally:
        await asyncio.to_thread(fleet.stop)
        prom.stop()
        await relay_runner.cleanup()
        es.stop()
        await up_runner.cleanup()
    return out


async def _step(args, n, fleet, prom: Prometheus, es, relay, out: Outcome, bar) -> Step:
    async with aiohttp.ClientSession() as s:
        bar.set_postfix_str(f"N={n}: starting agents")
        new = await asyncio.to_thread(fleet.grow, n)
        urls = [a.url for a in fleet.agents]
        if args.warmup:
            bar.set_postfix_str(f"N={n}: label sweep of {len(new)} new agents")
            warm = await sweep([a.url for a in new], min(args.tenants, 51))
            out.requests, out.failed = out.requests + warm.sent, out.failed + warm.failed
        prom.set_targets(urls)
        bar.update()
        bar.set_postfix_str(f"N={n}: waiting for scrapes")
        await m.wait_scraped(s, prom.url, n, timeout_s=30 + 4 * args.scrape_interval)
        bar.update()
        bar.set_postfix_str(f"N={n}: traffic {args.rate:g}/s per agent, {args.seconds:g} s")
        before = out.requests
        sent = await drive(urls, args.rate, args.seconds, Mix(tenants=args.tenants), args.seed + n)
        out.requests, out.failed = out.requests + sent.sent, out.failed + sent.failed
        bar.update()
        bar.set_postfix_str(f"N={n}: draining to the emulator")
        drain = await m.wait_shipped(s, es.url, PATTERN, out.requests, args.drain_timeout)
        await asyncio.sleep(2 * args.scrape_interval)  # every agent scraped after the traffic
        step = await _read(s, args, n, urls, prom, es, relay, out, sent.sent, drain)
        bar.update()
        tqdm.write(
            f"N={n:>3}: {step.series:,.0f} series, {out.requests - before} requests, "
            f"{step.es_docs:,} documents, drain {step.drain_s:.1f} s"
        )
        return step


async def _read(s, args, n, urls, prom, es, relay, out, sent, drain) -> Step:
    window = f"{int(args.seconds + 4 * args.scrape_interval)}s"
    q = lambda expr: m.prom_query(s, prom.url, expr)  # noqa: E731
    pages = [await m.page_bytes(s, u) for u in urls]
    out.encoding = pages[0][2]
    async with s.get(urls[0] + "/metrics") as r:
        out.groups = series_groups(await r.text())
    docs, store = await m.es_totals(s, es.url, PATTERN)
    sel = f'{{job="{JOB}"}}'
    return Step(
        agents=n,
        series=await q(f"count({sel})"),
        head_series=await m.prom_self(s, prom.url, "prometheus_tsdb_head_series"),
        samples_per_scrape=await q(f"sum(scrape_samples_scraped{sel})"),
        scrape_s_avg=await q(f"avg(avg_over_time(scrape_duration_seconds{sel}[{window}]))"),
        scrape_s_max=await q(f"max(max_over_time(scrape_duration_seconds{sel}[{window}]))"),
        page_raw=statistics.mean(p[0] for p in pages),
        page_gzip=statistics.mean(p[1] for p in pages),
        prom_rss=prom.rss(),
        requests=sent,
        es_docs=docs,
        es_store_bytes=store,
        bulk_bytes=relay.bulk.body_bytes,
        bulk_docs=relay.bulk.docs,
        lag_max_s=await q(f"max(max_over_time(inferwatch_shipper_lag_seconds{sel}[{window}]))"),
        drain_s=drain,
    )


async def _wait_block(prom: Prometheus, block_s: int) -> dict | None:
    """Wait (at most two block lengths) for Prometheus to cut a compacted block."""
    for _ in range(int(2 * block_s)):
        stats = m.block_stats(prom.data)
        if stats:
            return stats
        await asyncio.sleep(1)
    return None
