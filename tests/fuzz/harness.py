"""An agent served from a background thread, and the invariants every fuzz case must keep.

Schemathesis and the bare-socket helpers are blocking clients, so the agent runs on its own
event loop in a thread (as tests/integration/vllm/conftest.py runs it beside vLLM). After
each case `Invariants.check` asserts what must hold whatever the input:

- no 5xx made by the agent itself: a 5xx passes only when the upstream sent it (the uvicorn
  test upstream logs what it answered to each x-request-id; for vLLM, its error envelope
  with a type the agent never uses, or Starlette's own 500 page);
- the response names its request (`x-request-id`) and that request's record says the
  status the client got;
- `/metrics` answers 200 in UTF-8 (parsed with prometheus_client's text parser every
  `parse_every` cases and at the end);
- the store keeps writing: its row count catches up with the records.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from hypothesis import HealthCheck, Phase, settings
from prometheus_client.parser import text_string_to_metric_families

from agent import errors
from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from agent.pipeline import MemorySink
from agent.record import RequestRecord
from agent.store.reader import StoreReader

# The error `type`s of answers the agent makes itself are snake_case (agent/errors.py, e.g.
# a 502 `upstream_unavailable`; agent/proxy.py's `internal_error`); vLLM's are exception
# class names such as `BadRequestError` or `InternalServerError`.
VLLM_ERROR_TYPE = re.compile(r"^[A-Z][A-Za-z]*(Error|Exception)$")
AGENT_ERROR_TYPES = frozenset(
    v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)
)
STARLETTE_500 = b"Internal Server Error"  # what vLLM's server sends for an unhandled error


class ThreadedAgent:
    """`Agent` + `serve()` on an event loop of its own thread; `url`, `sink`, `store_path`."""

    def __init__(self, upstream_url: str, store_dir: Path, **overrides) -> None:
        base = {
            "listen": {"port": 0},
            "store": {"dir": str(store_dir)},
            "collectors": {"interval_s": 0.2},
        }
        self.settings = load_settings(None, {**base, **overrides})
        self.upstream_url = upstream_url
        self.sink = MemorySink(limit=1_000_000)
        self.store_path = self.settings.store.path
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="agent")

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self.agent = Agent(self.settings, self.upstream_url, [self.sink])
            runner = await serve(self.agent, "127.0.0.1", 0)
            self.url = f"http://127.0.0.1:{bound_port(runner)}"
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        try:
            asyncio.run(main())
        except BaseException as err:  # surfaced by start()
            self._error = err
            self._ready.set()

    def start(self) -> ThreadedAgent:
        """Serve; returns once the agent listens."""
        self._thread.start()
        assert self._ready.wait(30), "agent did not start"
        if self._error is not None:
            raise RuntimeError("agent failed to start") from self._error
        return self

    def stop(self) -> None:
        """Stop serving (the pipeline and the store flush and close)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> ThreadedAgent:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def metrics_page(url: str, parse: bool = True) -> dict[str, object]:
    """GET /metrics; asserts 200, UTF-8 text and (with `parse`) a page prometheus_client's
    parser reads through; returns the families by name (empty without `parse`)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            text = r.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        raise AssertionError(f"/metrics answered {err.code}: {err.read()[:200]!r}") from None
    if not parse:
        return {}
    return {f.name: f for f in text_string_to_metric_families(text)}


@dataclass
class Invariants:
    """Checks every case against the agent's records, `/metrics` and its store.

    `upstream_sent(request_id)` returns the status the upstream answered for that id,
    or None when the upstream never answered it; pass None where the upstream keeps no
    log (the real vLLM), and the body's error envelope decides."""

    agent_url: str
    sink: MemorySink
    store_path: Path
    upstream_sent: Callable[[str], int | None] | None = None
    # /metrics is fetched after every case; parsing it costs ~20 ms once the model label
    # holds its 50 values (more than the rest of a case), so it is parsed every so often.
    parse_every: int = 20
    record_wait_s: float = 30.0
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    # A few answers per (operation, status), for the reader of a run.
    samples: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    _pending: dict[str, tuple[int, str]] = field(default_factory=dict)
    _records: dict[str, RequestRecord] = field(default_factory=dict)
    _seen_upto: int = 0

    def check(self, what: str, status: int, headers, body: bytes) -> None:
        """After one case: `what` names it in failures; `headers` any case-insensitive map."""
        self.cases += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        rid = headers.get("x-request-id")
        where = f"{what} -> {status} (x-request-id {rid}) {body[:300]!r}"
        kept = self.samples.setdefault((what.split(" body=")[0], status), [])
        if len(kept) < 3:
            kept.append(where)
        assert not self.agent_made_5xx(status, rid, body), f"5xx made by the agent: {where}"
        assert rid, f"answer names no request: {where}"
        self._pending[rid] = (status, where)
        self._verify(wait_s=0)
        metrics_page(self.agent_url, parse=self.cases % self.parse_every == 0)

    def agent_made_5xx(self, status: int, rid: str | None, body: bytes) -> bool:
        """Whether a response is a server error the agent made (not passed through)."""
        if status < 500:
            return False
        if self.upstream_sent is not None:
            return rid is None or self.upstream_sent(rid) != status
        if body.strip() == STARLETTE_500:
            return False
        try:
            err_type = orjson.loads(body)["error"]["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return True  # not vLLM's envelope: e.g. aiohttp's own "500 Internal Server Error"
        return err_type in AGENT_ERROR_TYPES or not VLLM_ERROR_TYPE.match(str(err_type))

    def _index(self) -> None:
        records = self.sink.records
        for r in records[self._seen_upto :]:
            self._records[r.request_id] = r
        self._seen_upto = len(records)

    def _verify(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while True:
            self._index()
            for rid in [rid for rid in self._pending if rid in self._records]:
                status, where = self._pending.pop(rid)
                got = self._records[rid].http_status
                assert got == status, f"record says {got}, client got {status}: {where}"
            if not self._pending or time.monotonic() >= deadline:
                return
            time.sleep(0.02)

    def record(self, rid: str) -> RequestRecord:
        """The record of one request, once it arrived (checked against its answer)."""
        deadline = time.monotonic() + self.record_wait_s
        while True:
            self._verify(wait_s=0)
            if rid in self._records:
                return self._records[rid]
            assert time.monotonic() < deadline, f"no record of request {rid}"
            time.sleep(0.005)

    def settle(self) -> None:
        """At the end: every answer has its record, the store holds them all, /metrics renders."""
        self._verify(wait_s=self.record_wait_s)
        missing = list(self._pending.values())[:5]
        assert not self._pending, f"{len(self._pending)} answers have no record, e.g. {missing}"
        metrics_page(self.agent_url)
        self.wait_store(len(self._records))

    def wait_store(self, at_least: int) -> int:
        """Wait until the store holds `at_least` rows; returns the count."""
        deadline = time.monotonic() + self.record_wait_s
        count = 0
        while time.monotonic() < deadline:
            if self.store_path.exists():
                reader = StoreReader(self.store_path)
                try:
                    count = reader.count()
                finally:
                    reader.close()
                if count >= at_least:
                    return count
            time.sleep(0.1)
        raise AssertionError(f"store stopped writing: {count} rows for {at_least} records")


# One agent serves every example of an edge test, so a value that breaks it fails the
# examples after it too: no shrinking (it would chase those), known hostile values first.
ONE_AGENT = settings(
    max_examples=300,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
