"""The agent's log lines: human text on a terminal, JSON otherwise, secrets always masked."""

from __future__ import annotations

import io
import json
import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from agent.config import LoggingConfig
from agent.logs import RateLimit, setup_logging

pytestmark = pytest.mark.unit


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def _log(stream, fmt="auto", secrets=()):
    setup_logging(LoggingConfig(format=fmt), secrets, stream)
    logging.getLogger("inferwatch.test").info(
        "agent listening", extra={"listen": "http://127.0.0.1:8000", "note": "two words"}
    )
    return stream.getvalue().splitlines()


def test_auto_is_text_on_a_terminal(restore_root):
    (line,) = _log(_Tty())
    assert line.endswith('INFO    agent listening listen=http://127.0.0.1:8000 note="two words"')
    assert not line.startswith("{")


@pytest.mark.parametrize("fmt", ["auto", "json"])
def test_json_when_not_a_terminal_or_asked(restore_root, fmt):
    stream = io.StringIO() if fmt == "auto" else _Tty()
    (line,) = _log(stream, fmt)
    doc = json.loads(line)
    assert (doc["message"], doc["log.level"], doc["listen"]) == (
        "agent listening",
        "INFO",
        "http://127.0.0.1:8000",
    )


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_are_masked_in_messages_extras_and_tracebacks(restore_root, fmt):
    stream = io.StringIO()
    setup_logging(LoggingConfig(format=fmt), ["configured-key-1"], stream)
    log = logging.getLogger("aiohttp.server")
    try:  # what aiohttp's parser raises for a malformed Authorization line
        raise BadHttpMessage(
            "Invalid header value char:\n\n    b'Authorization: Bearer sk-raw-2\\x01'"
        )
    except BadHttpMessage:
        log.exception("Error handling request from %s", "127.0.0.1")
    log.warning("key %s", "configured-key-1", extra={"url": "http://u:urlpass-3@h"})
    out = stream.getvalue()
    assert "Error handling request from 127.0.0.1" in out and "BadHttpMessage" in out
    for secret in ("configured-key-1", "sk-raw-2", "urlpass-3"):
        assert secret not in out


def test_rate_limit_lets_one_record_through_per_interval_and_counts_the_rest():
    now = [0.0]
    limit = RateLimit(10.0, clock=lambda: now[0])
    logger = logging.getLogger("test.ratelimit")
    rec = lambda: logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "bad", None, None)  # noqa: E731
    assert limit.filter(rec())
    assert [limit.filter(rec()) for _ in range(5)] == [False] * 5
    now[0] = 10.0
    passed = rec()
    assert limit.filter(passed) and passed.suppressed == 5


def test_setup_logging_rate_limits_aiohttp_server_errors():
    stream = io.StringIO()
    setup_logging(LoggingConfig(format="json"), stream=stream)
    server = logging.getLogger("aiohttp.server")
    for _ in range(50):
        server.error("Error handling request from 127.0.0.1")
    assert stream.getvalue().count("Error handling request") == 1
