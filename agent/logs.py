"""The agent's own logs: JSON lines on stderr (or plain text for humans)."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from agent.config import LoggingConfig


def setup_logging(config: LoggingConfig) -> None:
    """Configure the root logger once, at start (never at import)."""
    handler = logging.StreamHandler(sys.stderr)
    if config.format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={
                    "asctime": "@timestamp",
                    "levelname": "log.level",
                    "name": "log.logger",
                },
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level)
    # aiohttp's access log is one line per request: too costly on the hot path.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
