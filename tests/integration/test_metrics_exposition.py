"""The live /metrics page against the catalogue, both ways, and against real Prometheus tools:
`promtool check metrics` on a live scrape, and a real Prometheus server scraping the agent."""

import asyncio
import dataclasses
import shutil
import subprocess

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.catalogue import load_catalogue
from tests.http import get, post
from tests.prometheus_server import scrape_until

pytestmark = pytest.mark.integration

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "a b c"}]}
# Sources whose families must all be on the page here (the test upstream serves a real vLLM
# /metrics capture, so the vLLM collector has its real input). GPU and RAPL families are
# held to the catalogue in test_collectors_agent.py with a stand-in NVML library.
ALWAYS = {"agent", "prometheus_client", "collectors.vllm", "collectors.registry"}


async def exercise(ra):
    """Requests that touch every agent-owned instrument."""
    await post(ra.url + "/v1/chat/completions", CHAT, {"x-fake-tokens": "3"})
    await post(ra.url + "/v1/chat/completions", {**CHAT, "stream": True})
    await post(ra.url + "/v1/chat/completions", CHAT, {"x-fake-status": "500"})
    await get(ra.url + "/v1/models")
    await ra.records(4)
    await ra.agent.collectors.tick()  # one collection, so collector families are on the page


async def scrape(ra) -> str:
    status, headers, body = await get(ra.url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    return body.decode()


def family_name(name: str, mtype: str) -> str:
    # The text parser names a counter family without its `_total` suffix.
    return name.removesuffix("_total") if mtype == "counter" else name


async def test_metrics_match_catalogue_both_ways(agent):
    await exercise(agent)
    families = {f.name: f for f in text_string_to_metric_families(await scrape(agent))}
    specs = load_catalogue()
    declared = {family_name(s.name, s.type): s for s in specs.values()}
    undeclared = set(families) - set(declared)
    assert not undeclared, f"exposed but not in the catalogue: {sorted(undeclared)}"
    missing = {n for n, s in declared.items() if s.source in ALWAYS} - set(families)
    assert not missing, f"declared but not exposed: {sorted(missing)}"
    for name, fam in families.items():
        spec = declared[name]
        assert fam.type == ("gauge" if spec.type == "info" else spec.type), name
        for sample in fam.samples:
            labels = set(sample.labels) - {"le"}
            assert labels == set(spec.labels), (name, sample)


async def test_request_path_families_have_samples_after_exercise(agent):
    await exercise(agent)
    families = {f.name: f for f in text_string_to_metric_families(await scrape(agent))}
    request_path = [
        "gen_ai_server_request_duration_seconds",
        "gen_ai_server_time_to_first_token_seconds",
        "gen_ai_server_time_per_output_token_seconds",
        "gen_ai_client_token_usage",
        "inferwatch_requests",  # the counters' families, as the parser names them
        "inferwatch_tokens",
        "inferwatch_tenant_request_duration_seconds",
        "inferwatch_tenant_time_to_first_token_seconds",
        "inferwatch_requests_in_flight",
        "inferwatch_upstream_errors",
        "inferwatch_agent_overhead_seconds",
        "inferwatch_records_queued",
        "inferwatch_upstream_up",
        "inferwatch_build_info",
    ]
    assert [n for n in request_path if not families[n].samples] == []


@pytest.mark.prometheus
async def test_promtool_check_metrics_passes_on_live_scrape(agent):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: install the Debian package prometheus"
    await exercise(agent)
    text = await scrape(agent)
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr


@pytest.mark.prometheus
async def test_real_prometheus_scrapes_the_agent(agent, tmp_path):
    await exercise(agent)
    target = agent.url.removeprefix("http://")
    result, t = await scrape_until(
        tmp_path,
        f"{{job_name: inferwatch, static_configs: [{{targets: ['{target}']}}]}}",
        "sum(gen_ai_client_token_usage_sum{gen_ai_token_type='output'})",
        timeout=30,
    )
    # 3 output tokens from the non-streamed request + 5 from the streamed one
    assert float(result[0]["value"][1]) == 8
    assert t["health"] == "up" and not t["lastError"]


async def raw_request(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send one hand-written HTTP/1.1 request (bytes aiohttp's client would refuse to
    send); returns the whole response, read until the agent closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + b"Connection: close\r\n\r\n" + body)
    async with asyncio.timeout(10):
        answer = await reader.read(-1)
    writer.close()
    return answer


async def test_non_utf8_tenant_header_never_breaks_a_scrape(agent):
    body = orjson.dumps(CHAT)
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"x-tenant-id: t\xff\r\nContent-Length: %d\r\n" % len(body)
    )
    answer = await raw_request(agent.url, head, body)
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    for _ in range(2):  # every later scrape renders, not only the first
        families = list(text_string_to_metric_families(await scrape(agent)))
        assert any(f.name == "gen_ai_server_request_duration_seconds" for f in families)


async def test_unencodable_tenant_label_is_shown_escaped_on_the_page(agent):
    # Straight into a labelled series (whether the edge lets such a header through or
    # answers 400, the renderer must cope with the value).
    await post(agent.url + "/v1/chat/completions", CHAT)
    [record] = await agent.records(1)
    agent.agent.metrics.observe(dataclasses.replace(record, tenant="t\udcff"))
    families = {f.name: f for f in text_string_to_metric_families(await scrape(agent))}
    tenants = {s.labels["tenant"] for s in families["inferwatch_requests"].samples}
    assert "t\\udcff" in tenants
