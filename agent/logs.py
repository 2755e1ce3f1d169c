"""The agent's own logs on stderr: human-readable lines on a terminal, JSON lines otherwise.

Every record passes a filter that masks secrets before any formatter sees it: the
configured ones by value, and keys the agent never knew by their shape (aiohttp's server
logs a malformed request line with the raw header bytes, `Authorization` included).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from agent.config import LoggingConfig
from common.masking import mask_text

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_MIN_KNOWN_SECRET = 4  # shorter "secrets" would mask ordinary words all over the log


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message, extras and traceback (never drops a record)."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        super().__init__()
        self.known = tuple(s for s in known if len(s) >= _MIN_KNOWN_SECRET)
        self._tb = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: show it as written rather than raise
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_text(message, self.known)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_text(value, self.known))
        if record.exc_info:
            # Formatted here, masked once: both formatters print `exc_text` when exc_info is gone.
            record.exc_text = mask_text(self._tb.formatException(record.exc_info), self.known)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text, self.known)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info, self.known)
        return True


class TextFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL   message key=value ...`: one line a human reads on a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(
            f"{k}={_quoted(v)}" for k, v in vars(record).items() if k not in _STANDARD
        )
        line = f"{when} {record.levelname:<7} {record.getMessage()}"
        if extras:
            line += " " + extras
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def _quoted(value: object) -> str:
    text = str(value)
    return f'"{text}"' if not text or any(c in text for c in ' "=') else text


def _json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "@timestamp", "levelname": "log.level", "name": "log.logger"},
        timestamp=False,
    )


def resolved_format(config: LoggingConfig, stream: TextIO) -> str:
    """`json` or `text`: `auto` is text on a terminal, JSON when the stream is not one."""
    if config.format != "auto":
        return config.format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def setup_logging(
    config: LoggingConfig, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Configure the root logger once, at start (never at import); returns its handler.

    `secrets` are the configured secret values (`agent.config.secret_values`)."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    fmt = resolved_format(config, stream)
    handler.setFormatter(_json_formatter() if fmt == "json" else TextFormatter())
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.level)
    # aiohttp's access log is one line per request: too costly on the hot path.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiohttp's server logs every malformed request at ERROR with a traceback: a client
    # that sends garbage in a loop would flood the log (and the disk under it).
    server_log = logging.getLogger("aiohttp.server")
    server_log.filters[:] = [s for s in server_log.filters if not isinstance(s, RateLimit)]
    server_log.addFilter(RateLimit(_CLIENT_ERROR_EVERY_S))
    return handler


_CLIENT_ERROR_EVERY_S = 10.0


class RateLimit(logging.Filter):
    """Lets one record through per `every_s` seconds; the next one says how many were
    dropped meanwhile. For loggers that clients can drive (malformed requests)."""

    def __init__(self, every_s: float, clock=time.monotonic) -> None:
        super().__init__()
        self._every, self._clock = every_s, clock
        self._next = float("-inf")
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return False
        self._next = now + self._every
        if self.suppressed:
            record.suppressed = self.suppressed  # shown as an extra by both formatters
            self.suppressed = 0
        return True
