"""Building the Elasticsearch shipper from settings: it reads the store as its outbox."""

from __future__ import annotations

from agent.config import Settings
from agent.shipping.ecs import DocContext
from agent.shipping.outbox import Outbox
from agent.shipping.shipper import Shipper
from agent.shipping.stats import ShipStats
from agent.store.writer import StoreWriter


def build_shipper(settings: Settings, writer: StoreWriter, instruments: dict) -> Shipper:
    """A shipper of the store's unshipped rows to `elasticsearch.url` (not started)."""
    c, es = settings.store, settings.elasticsearch
    outbox = Outbox(str(c.path), writer, c.busy_timeout_ms)
    return Shipper(es, outbox, ShipStats(instruments), DocContext(service_name=es.service_name))
