"""The admin listener (`admin.listen`): /metrics and /health on a port of their own, the API
port answering 404 for them, an optional bearer token, and a real Prometheus scraping it
with `authorization: credentials_file`."""

import aiohttp
import orjson
import pytest

from agent.server_admin import admin_port
from tests.http import get
from tests.prometheus_server import scrape_until

pytestmark = pytest.mark.integration
TOKEN = "admin-s3cret-token"


def admin_url(ra) -> str:
    return f"http://127.0.0.1:{admin_port(ra.runner.app)}"


async def get_with(url: str, headers: dict):
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status, r.headers.copy(), await r.read()


async def test_admin_port_serves_metrics_and_health_and_api_port_does_not(
    fake_upstream, start_agent
):
    ra = await start_agent(fake_upstream.url, admin={"listen": "127.0.0.1:0"})
    admin = admin_url(ra)
    status, _, body = await get(admin + "/metrics")
    assert status == 200 and b"inferwatch_build_info{" in body
    status, _, body = await get(admin + "/health")
    assert status == 200 and orjson.loads(body)["upstream"]["status"] == "up"
    assert (await get(admin + "/health/live"))[0] == 200
    for path in ("/metrics", "/health", "/health/live"):
        status, _, body = await get(ra.url + path)
        # the agent's own 404, not the upstream's /metrics or /health
        assert status == 404 and orjson.loads(body)["error"]["code"] == 404, (path, body)
    assert fake_upstream.received == []
    status, _, _ = await get(ra.url + "/v1/models")  # the API itself is unchanged
    assert status == 200


async def test_admin_token_is_required_and_checked(fake_upstream, start_agent):
    ra = await start_agent(
        fake_upstream.url, admin={"listen": "127.0.0.1:0", "bearer_token": TOKEN}
    )
    admin = admin_url(ra)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for path in ("/metrics", "/health"):
            status, h, body = await get_with(admin + path, headers)
            assert status == 401 and h["WWW-Authenticate"].startswith("Bearer "), (path, headers)
            assert b"inferwatch_build_info" not in body and b"upstream" not in body
    status, _, body = await get_with(admin + "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and b"inferwatch_build_info{" in body
    labels = {"listener": "admin", "reason": "unauthorized"}
    assert ra.metric("inferwatch_requests_rejected_total", labels) == 6
    # liveness stays open: probes carry no credentials
    assert (await get(admin + "/health/live"))[0] == 200


async def test_health_does_not_show_the_upstream_credentials(fake_upstream, start_agent):
    host_port = fake_upstream.url.removeprefix("http://")
    ra = await start_agent(f"http://probe:pa55word@{host_port}")
    status, _, body = await get(ra.url + "/health")
    assert orjson.loads(body)["upstream"]["url"] == f"http://{host_port}"
    assert b"pa55word" not in body and b"probe" not in body


@pytest.mark.prometheus
async def test_real_prometheus_scrapes_the_admin_port_with_a_token_file(
    fake_upstream, start_agent, tmp_path
):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    ra = await start_agent(
        fake_upstream.url,
        admin={"listen": "127.0.0.1:0", "bearer_token_file": str(token_file)},
    )
    target = f"127.0.0.1:{admin_port(ra.runner.app)}"
    result, t = await scrape_until(
        tmp_path,
        f"{{job_name: inferwatch, authorization: {{credentials_file: '{token_file}'}},"
        f" static_configs: [{{targets: ['{target}']}}]}}",
        "up{job='inferwatch'}",
    )
    assert float(result[0]["value"][1]) == 1
    assert t["health"] == "up" and not t["lastError"]
    labels = {"listener": "admin", "reason": "unauthorized"}
    assert not ra.metric("inferwatch_requests_rejected_total", labels)
