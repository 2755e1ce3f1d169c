"""Building the store from settings (the agent's wiring opens and closes it), and the
`up` command's store flags."""

from __future__ import annotations

import argparse
import logging

from agent.config import Settings
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter

log = logging.getLogger("inferwatch.store")


def build_store(settings: Settings, instruments: dict, early: bool) -> StoreWriter | None:
    """The store's writer (not started: `start()` opens the database), or None when the
    store is off. `early`: a later stage holds records (the cost engine), so the record
    path writes each record early too (`agent.store.early.StoreEarly`)."""
    c, es = settings.store, settings.elasticsearch
    if not c.enabled:
        if es.url:
            log.warning("elasticsearch.url is set but the store is disabled: nothing is shipped")
        return None
    if early and c.pending_timeout_s <= settings.cost.max_hold_s:
        log.warning(
            "store.pending_timeout_s is not above cost.max_hold_s: rows may be shipped as "
            "cost-lost while the cost engine still holds their record",
            extra={
                "pending_timeout_s": c.pending_timeout_s,
                "max_hold_s": settings.cost.max_hold_s,
            },
        )
    return StoreWriter(c, StoreStats(instruments), keep_unshipped=es.url is not None, early=early)


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
