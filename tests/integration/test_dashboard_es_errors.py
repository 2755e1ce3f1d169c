"""`EsData`'s messages when Elasticsearch cannot answer: the emulator (noida-db, not
Elasticsearch) holding no request logs, and a small aiohttp stand-in answering 401, 403,
500, or nothing in time."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from aiohttp import web

from dashboards.data.api import DataUnavailable, Filters
from dashboards.data.es import EsData
from tests.es_emulator import es_emulator  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
F = Filters(1_700_000_000.0, 1_700_003_600.0)
ERROR = {"error": {"type": "search_phase_execution_exception", "reason": "all shards failed"}}


@pytest.mark.elasticsearch
def test_the_emulator_with_no_request_logs_says_shipping_may_be_off(es_emulator):  # noqa: F811
    for index in ("logs-inferwatch-*", "logs-inferwatch-default"):
        data = EsData(es_emulator.url, index)
        with pytest.raises(
            DataUnavailable, match=re.escape(f"no request logs yet at {index}: is shipping on?")
        ):
            data.totals(F)
        with pytest.raises(DataUnavailable, match="no request logs yet"):
            data.record("req-1")


class StandIn:
    """An aiohttp server (a stand-in, not Elasticsearch) on its own thread answering every
    request with `status` and `body`, after `delay` seconds."""

    def __init__(self, status: int, body: dict, delay: float = 0.0) -> None:
        self.status, self.body, self.delay = status, body, delay
        self.loop = asyncio.new_event_loop()
        self.stop = None

    async def _answer(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        headers = {"X-Elastic-Product": "Elasticsearch"}
        return web.json_response(self.body, status=self.status, headers=headers)

    def __enter__(self) -> str:
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)
        return self.url

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self.stop = lambda: self.loop.run_until_complete(runner.cleanup())
        ready.set()
        self.loop.run_forever()
        self.stop()
        left = asyncio.all_tasks(self.loop)  # a handler still waiting out its delay
        for task in left:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_named_without_them_aiohttp_stand_in(status):
    with StandIn(status, {"error": {"type": "security_exception", "reason": "no"}}) as url:
        data = EsData(url, basic_auth=("reader", "s3cret-pw"), request_timeout=5)
        with pytest.raises(DataUnavailable) as caught:
            data.totals(F)
    message = str(caught.value)
    assert f"Elasticsearch at {url} refused the credentials ({status})" in message
    assert "s3cret-pw" not in message and "reader" not in message


def test_a_cluster_error_gives_its_status_and_reason_aiohttp_stand_in():
    with (
        StandIn(500, ERROR) as url,
        pytest.raises(
            DataUnavailable,
            match="answered 500: search_phase_execution_exception: all shards failed",
        ),
    ):
        EsData(url, request_timeout=5).quantiles(F, "latency")


def test_no_answer_in_time_is_said_so_aiohttp_stand_in():
    with (
        StandIn(200, {}, delay=3) as url,
        pytest.raises(DataUnavailable, match=f"Elasticsearch at {url} did not answer in time"),
    ):
        EsData(url, request_timeout=0.5).safety(F)
