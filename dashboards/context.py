"""What one dashboard process reads: its settings (from the command line Streamlit passed
on) and the data source they name.

`inferwatch dashboard` starts Streamlit with `dashboards/app.py -- <flags>`; the flags are
parsed here, the same way for the served app and for tests that run the app in-process
(Streamlit's AppTest), which set `sys.argv`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.config import ConfigError, Settings, load_settings
from dashboards.data.api import DataUnavailable, RequestData


def build_parser() -> argparse.ArgumentParser:
    """Flags of the app script (the `inferwatch dashboard` command forwards them)."""
    p = argparse.ArgumentParser(prog="dashboards/app.py", add_help=False)
    p.add_argument("--config", metavar="FILE", help="the agent's YAML config file")
    p.add_argument("--data-dir", metavar="DIR", help="the agent's data folder (store.dir)")
    p.add_argument("--elasticsearch", metavar="URL", help="read a fleet from Elasticsearch")
    p.add_argument("--prometheus", metavar="URL", help="Prometheus for the GPUs page")
    p.add_argument("--now", type=float, help="pin the clock (epoch s): screenshots and tests")
    return p


def overrides(args: argparse.Namespace) -> dict:
    """Config overrides of the parsed flags (`--elasticsearch` also picks that source)."""
    over: dict = {}
    if args.data_dir:
        over["store"] = {"dir": args.data_dir}
    if args.elasticsearch:
        over["elasticsearch"] = {"url": args.elasticsearch}
        over["dashboard"] = {"source": "elasticsearch"}
    if args.prometheus:
        over.setdefault("dashboard", {})["prometheus_url"] = args.prometheus
    return over


@dataclass(frozen=True)
class DashboardContext:
    """Settings of this dashboard process, and its clock."""

    settings: Settings
    pinned_now: float | None = None

    def now(self) -> float:
        """Wall-clock time (epoch s), or the pinned one."""
        return self.pinned_now if self.pinned_now is not None else time.time()

    @property
    def alerts_db(self) -> Path:
        """The alerts database beside the store (alerts/db.py)."""
        return self.settings.store.dir / "alerts.db"


def load_context(argv: Sequence[str]) -> DashboardContext:
    """Settings from the flags in `argv`; `ConfigError` names what is wrong."""
    args, unknown = build_parser().parse_known_args(list(argv))
    if unknown:
        raise ConfigError(f"unknown dashboard arguments: {' '.join(unknown)}")
    return DashboardContext(load_settings(args.config, overrides(args)), args.now)


def open_data(ctx: DashboardContext) -> RequestData:
    """The request log the settings name; `DataUnavailable` when it cannot be opened."""
    s = ctx.settings
    if s.dashboard.source == "elasticsearch":
        if not s.elasticsearch.url:
            raise DataUnavailable("source is elasticsearch but no URL is set (--elasticsearch)")
        from dashboards.data.es import EsData

        return EsData.from_config(s.elasticsearch)
    from dashboards.data.store import StoreData

    return StoreData(s.store.path)
