"""Kill the real vLLM during a load of requests: every request gets an answer (a success or
a clear JSON error), the supervisor brings vLLM back, requests succeed again, and the agent
keeps one RequestRecord per request."""

from __future__ import annotations

import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.timeout(900)]

ERROR_TYPES = {"upstream_starting", "upstream_unavailable", "upstream_protocol_error"}


def _send(client: openai.OpenAI, model: str, i: int) -> tuple[int, str | None, str | None]:
    """(HTTP status, error type, Retry-After) of one request; never raises."""
    try:
        client.completions.create(model=model, prompt=f"request {i} tokens", max_tokens=24)
        return 200, None, None
    except openai.APIStatusError as err:
        body = err.response.json().get("error", {})
        return err.status_code, body.get("type"), err.response.headers.get("retry-after")
    except (openai.APIConnectionError, httpx.HTTPError) as err:
        return 0, type(err).__name__, None


def _restarts(url: str) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    line = next(x for x in text.splitlines() if x.startswith("inferwatch_vllm_restarts_total "))
    return float(line.split()[1])


def test_kill_vllm_under_load_every_request_answered_and_recovers(stack):
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0, timeout=120)
    restarts_before = _restarts(stack.url)
    records_before = len(stack.sink.records)
    results: list[tuple[int, str | None, str | None]] = []
    sent, done = 0, threading.Event()

    def load() -> None:
        nonlocal sent
        with ThreadPoolExecutor(4) as pool:
            futures = []
            while not done.is_set() and sent < 400:  # bounded in count and time
                futures.append(pool.submit(_send, client, stack.model, sent))
                sent += 1
                time.sleep(0.05)
            results.extend(f.result() for f in futures)

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(3)  # requests are flowing
    stack.supervisor.process.kill()  # as a crash would: SIGKILL of vLLM's API server
    time.sleep(3)  # requests arrive while vLLM is down
    done.set()
    loader.join(180)

    statuses = {r[0] for r in results}
    assert 0 not in statuses, "a request got no HTTP answer"
    assert 200 in statuses and 503 in statuses, statuses
    for status, err_type, retry_after in results:
        if status != 200:
            assert status in (502, 503) and err_type in ERROR_TYPES, (status, err_type)
        if status == 503:
            assert retry_after is not None

    stack.wait_ready()  # the supervisor restarted vLLM with no operator
    assert _send(client, stack.model, -1)[0] == 200
    assert _restarts(stack.url) == restarts_before + 1
    records = stack.wait_records(records_before + sent + 1)
    assert len(records) == records_before + sent + 1, "a RequestRecord was lost"
