"""Wiring of the store (and the Elasticsearch shipper) into a running agent.

The lead calls `attach_store(agent, settings)` once from `Agent.__init__`, and wires
`add_store_flags` / `store_overrides` into the `up` command line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from agent.store.outbox import Outbox
from agent.store.sqlite_sink import SQLiteSink
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter

log = logging.getLogger("inferwatch.store")


def attach_store(agent, settings, early: bool = False) -> StoreWriter | None:
    """Add the SQLite sink to `agent.pipeline` and, with `elasticsearch.url` set, run the
    shipper between `agent.on_startup` and `agent.on_cleanup`. Returns the writer.

    `early` (set it when a stage between the proxy and the pipeline holds records, i.e.
    the cost engine): wrap `agent.proxy.finish` so each record is queued for the store the
    moment its request ends, then passed on to the previous `finish`; the version that
    later reaches the store sink completes that row. Call it after every stage that
    wraps `finish`, so the store's tap is the first thing a finished record meets."""
    c, es = settings.store, settings.elasticsearch
    if not c.enabled:
        if es.url:
            log.warning("elasticsearch.url is set but the store is disabled: nothing is shipped")
        return None
    writer = StoreWriter(
        c, StoreStats(agent.instruments), keep_unshipped=es.url is not None, early=early
    )
    if early:
        _tap_finish(agent, writer, settings)
    agent.pipeline.add_sink(SQLiteSink(writer, sync=c.durability == "sync"))
    shipper = _shipper(agent, settings, writer) if es.url else None

    async def startup(_agent) -> None:
        try:
            await asyncio.to_thread(writer.start)  # opens/migrates the database off the loop
        except Exception as err:
            log.error(
                "cannot open the request store", extra={"path": str(c.path), "error": str(err)}
            )
            raise
        if shipper is not None:
            await shipper.start()

    async def cleanup(_agent) -> None:
        if shipper is not None:
            await shipper.stop()  # the writer closes with the pipeline, after the last records

    agent.on_startup.append(startup)
    agent.on_cleanup.append(cleanup)
    return writer


def _tap_finish(agent, writer: StoreWriter, settings) -> None:
    hold = settings.cost.max_hold_s
    if settings.store.pending_timeout_s <= hold:
        log.warning(
            "store.pending_timeout_s is not above cost.max_hold_s: rows may be shipped as "
            "cost-lost while the cost engine still holds their record",
            extra={"pending_timeout_s": settings.store.pending_timeout_s, "max_hold_s": hold},
        )
    put_early, then = writer.put_early, agent.proxy.finish

    def finish(record) -> None:  # the request path: a list append under a lock, no I/O
        put_early(record)
        then(record)

    agent.proxy.finish = finish


def _shipper(agent, settings, writer: StoreWriter):
    # Imported here: the Elasticsearch client is only loaded when shipping is on.
    from agent.shipping.ecs import DocContext
    from agent.shipping.shipper import Shipper
    from agent.shipping.stats import ShipStats

    c, es = settings.store, settings.elasticsearch
    outbox = Outbox(str(c.path), writer, c.busy_timeout_ms)
    ctx = DocContext(service_name=es.service_name)
    return Shipper(es, outbox, ShipStats(agent.instruments), ctx)


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    """The `up` command's store and shipping options."""
    parser.add_argument(
        "--elasticsearch",
        metavar="URL",
        help="ship request logs to this Elasticsearch, e.g. http://127.0.0.1:9200 "
        "(config: elasticsearch.url; credentials go in the config file or environment)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder of the request-log database (config: store.dir; default ./inferwatch-data)",
    )


def store_overrides(args: argparse.Namespace) -> dict:
    """Settings overrides from the flags of `add_store_flags` (only those given)."""
    over: dict = {}
    if getattr(args, "elasticsearch", None):
        over["elasticsearch"] = {"url": args.elasticsearch}
    if getattr(args, "data_dir", None):
        over["store"] = {"dir": args.data_dir}
    return over
