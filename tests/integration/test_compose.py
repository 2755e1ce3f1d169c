"""deploy/compose.yaml and the configs it mounts.

The stack itself cannot come up here: its Grafana, Elasticsearch, Prometheus and
Alertmanager images cannot be pulled (no registry can be reached), and these tests never
try. So (a) the file is read by podman-compose itself (`--dry-run`: 1.0.3 has no `config`
command) and the `podman create` arguments it makes are held to the stack's rules, and
(b) the configs the stack mounts are run by the real servers as local processes: the agent
with deploy/compose/inferwatch.yaml in front of the test upstream, shipping to the
Elasticsearch-API emulator, scraped by Prometheus with deploy/compose/prometheus.yml and
the shipped rules, alerting to Alertmanager with deploy/compose/alertmanager.yml. Only
host names, ports and paths are changed; intervals and `for:` stay as shipped, so the
second test waits for a scrape interval and the one-minute `for` of InferwatchUpstreamDown.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from elasticsearch import AsyncElasticsearch

from tests.alertmanager_server import alertmanager, prometheus
from tests.compose_configs import (
    AGENT_CONFIG,
    ALERTMANAGER_CONFIG,
    COMPOSE_FILE,
    INFERWATCH_IMAGES,
    alertmanager_config,
    healthcheck,
    option_values,
    podman_compose_creates,
    prometheus_config,
)
from tests.conftest import free_port, start_app
from tests.es_emulator import EsEmulator
from tests.es_helpers import missing_ids
from tests.fake_upstream import FakeUpstream
from tests.http import get, post

pytestmark = [pytest.mark.integration, pytest.mark.prometheus, pytest.mark.elasticsearch]

ROOT = Path(__file__).parents[2]
SERVICES = {
    "vllm",
    "agent",
    "prometheus",
    "alertmanager",
    "grafana-dashboards",
    "grafana",
    "elasticsearch",
    "dashboard",
}
LONG_RUNNING = SERVICES - {"grafana-dashboards"}
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hello compose"}]}
RECORDED = 'model_tenant:inferwatch_requests:rate5m{gen_ai_request_model="fake-model"}'


# ---- (a) the file, as podman-compose reads it ---------------------------------------------


@pytest.fixture(scope="module")
def creates() -> dict[str, list[str]]:
    if not shutil.which("podman-compose"):
        pytest.fail("podman-compose missing: install the Debian package podman-compose")
    return podman_compose_creates()


def _image(argv: list[str]) -> str:
    [image] = [a for a in argv if a.startswith(("localhost/", "docker.io/", "docker.elastic.co/"))]
    return image


@pytest.mark.container  # podman-compose reads the file
def test_podman_compose_makes_every_service_with_a_pinned_image(creates):
    assert set(creates) == SERVICES
    for service, argv in creates.items():
        name, _, tag = _image(argv).rpartition(":")
        assert name and tag and tag != "latest", f"{service}: image tag not pinned"


@pytest.mark.container  # podman-compose reads the file
def test_ports_are_published_on_loopback_only_and_vllm_not_at_all(creates):
    published = {s: option_values(argv, "-p") for s, argv in creates.items()}
    assert published["vllm"] == []  # clients reach vLLM only through the agent
    assert published["agent"] == ["127.0.0.1:8000:8000"]
    for service, ports in published.items():
        assert all(p.startswith("127.0.0.1:") for p in ports), f"{service}: {ports}"
    assert {p for ports in published.values() for p in ports} >= {
        "127.0.0.1:9090:9090",
        "127.0.0.1:9093:9093",
        "127.0.0.1:3000:3000",
        "127.0.0.1:9200:9200",
        "127.0.0.1:8501:8501",
    }


@pytest.mark.container  # podman-compose reads the file
def test_inferwatch_containers_are_non_root_read_only_without_capabilities(creates):
    for service, argv in creates.items():
        if _image(argv) not in INFERWATCH_IMAGES:
            continue
        assert option_values(argv, "-u") == ["10001:10001"], service
        if service == "vllm":
            continue  # vLLM writes its caches under its home: not read-only
        assert "--read-only" in argv, service
        assert option_values(argv, "--tmpfs") == ["/tmp"], service
        assert option_values(argv, "--cap-drop") == ["ALL"], service
        assert option_values(argv, "--security-opt") == ["no-new-privileges:true"], service


@pytest.mark.container  # podman-compose reads the file
def test_agent_runs_up_in_front_of_vllm_with_its_config_and_data_volume(creates):
    argv = creates["agent"]
    assert argv[argv.index("localhost/inferwatch:dev") + 1 :] == [
        "up",
        "--upstream",
        "http://vllm:8001",
        "--listen",
        "0.0.0.0:8000",
        "--config",
        "/etc/inferwatch/config.yaml",
    ]
    mounts = option_values(argv, "-v")
    assert "deploy_agent-data:/var/lib/inferwatch" in mounts
    assert f"{AGENT_CONFIG}:/etc/inferwatch/config.yaml:ro" in mounts
    assert "http://127.0.0.1:8000/health/live" in healthcheck(argv)


@pytest.mark.container  # podman-compose reads the file
def test_every_long_running_service_has_a_healthcheck(creates):
    for service in LONG_RUNNING:
        assert "http://127.0.0.1:" in healthcheck(creates[service]), service


@pytest.mark.container  # podman-compose reads the file
def test_every_bind_mount_names_a_file_of_the_checkout(creates):
    binds = [
        v.split(":")[0]
        for argv in creates.values()
        for v in option_values(argv, "-v")
        if v.startswith("/")
    ]
    assert len(binds) == 8  # 2 x the agent's config, 3 for Prometheus, 1 + 2 more
    for source in binds:
        assert Path(source).is_file() and Path(source).is_relative_to(ROOT), source


@pytest.mark.container  # podman-compose reads the file
def test_grafana_reads_the_boards_the_export_service_writes(creates):
    export = creates["grafana-dashboards"]
    assert export[-4:] == ["grafana", "export", "--provisioning", "/var/lib/inferwatch"]
    assert "deploy_grafana-dashboards:/var/lib/inferwatch" in option_values(export, "-v")
    provider = yaml.safe_load(
        (ROOT / "dashboards/grafana/provisioning/dashboards/inferwatch.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert f"deploy_grafana-dashboards:{path}:ro" in option_values(creates["grafana"], "-v")
    datasource = yaml.safe_load(
        (ROOT / "dashboards/grafana/provisioning/datasources/inferwatch.yaml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


@pytest.mark.container  # podman-compose reads the file
def test_prometheus_mounts_the_rule_files_its_config_loads(creates):
    mounted = {v.split(":")[1] for v in option_values(creates["prometheus"], "-v")}
    config = yaml.safe_load((COMPOSE_FILE.parent / "compose/prometheus.yml").read_text())
    assert set(config["rule_files"]) <= mounted
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["agent:8000"]


def test_shipped_alertmanager_config_passes_amtool():
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: install the Debian package prometheus-alertmanager"
    done = subprocess.run([amtool, "check-config", str(ALERTMANAGER_CONFIG)], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


# ---- (b) the mounted configs, run by the real servers as processes -----------------------


async def _start_agent(tmp_path: Path, upstream: str, es_url: str) -> tuple:
    """`inferwatch up` with the compose config; only the upstream, listen address, data
    folder and Elasticsearch URL are the command line's (the compose file passes the first
    two the same way)."""
    port = free_port()
    args = ["up", "--config", str(AGENT_CONFIG), "--upstream", upstream]
    args += ["--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data")]
    args += ["--elasticsearch", es_url]
    with (tmp_path / "agent.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.cli", *args, stdout=log, stderr=log, cwd=ROOT
        )
    url = f"http://127.0.0.1:{port}"
    async with asyncio.timeout(60):
        while not await _answers(url + "/health/live"):
            assert proc.returncode is None, (tmp_path / "agent.log").read_text()
            await asyncio.sleep(0.2)
    return proc, url


async def _answers(url: str) -> bool:
    try:
        status, _, _ = await get(url)
    except OSError:
        return False
    return status == 200


async def _stop(proc) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await proc.wait()


def _stored_ids(data_dir: Path) -> set[str]:
    db = data_dir / "requests.sqlite3"
    if not db.exists():
        return set()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {row[0] for row in conn.execute("SELECT request_id FROM requests")}


async def _until(check, what: str, timeout: float = 60):
    """Wait until `check()` (async) returns something true; returns it."""
    try:
        async with asyncio.timeout(timeout):
            while not (result := await check()):
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None
    return result


async def _send_chats(url: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        status, headers, _ = await post(url + "/v1/chat/completions", CHAT)
        assert status == 200
        ids.append(headers["x-request-id"])
    return ids


async def _prom(session, base: str, path: str, **params) -> dict:
    async with session.get(f"{base}/api/v1/{path}", params=params) as r:
        return (await r.json())["data"]


async def _am_alerts(session, base: str) -> list[dict]:
    async with session.get(f"{base}/api/v2/alerts") as r:
        return await r.json()


def _promtool_check(tmp_path: Path, config: dict) -> None:
    (tmp_path / "check.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "check.yml")], capture_output=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"SUCCESS: 2 rule files found" in done.stdout, done.stdout


async def test_compose_configs_run_agent_prometheus_alertmanager_es_emulator_test_upstream(
    tmp_path,
):
    fake = FakeUpstream()
    up_runner, fake.url = await start_app(fake.app)
    with EsEmulator(tmp_path / "es") as es:
        proc, agent_url = await _start_agent(tmp_path, fake.url, es.url)
        try:
            await _agent_stores_and_ships(tmp_path, agent_url, es.url)
            await up_runner.cleanup()  # vLLM gone: the agent's upstream_up goes to 0
            await _until(lambda: _health_says_down(agent_url), "upstream down")
            await _prometheus_and_alertmanager(tmp_path, agent_url)
        finally:
            await _stop(proc)
            await up_runner.cleanup()


async def _agent_stores_and_ships(tmp_path: Path, agent_url: str, es_url: str) -> None:
    ids = await _send_chats(agent_url, 5)

    async def stored():
        return set(ids) <= _stored_ids(tmp_path / "data")

    await _until(stored, "the agent's store holds the requests")
    async with AsyncElasticsearch(es_url) as client:

        async def shipped():
            return not await missing_ids(client, ids)

        await _until(shipped, "the emulator holds the requests")


async def _health_says_down(agent_url: str) -> bool:
    status, _, body = await get(agent_url + "/health")
    return status == 503 and b'"down"' in body


async def _prometheus_and_alertmanager(tmp_path: Path, agent_url: str) -> None:
    am_dir, prom_dir = tmp_path / "am", tmp_path / "prom"
    am_dir.mkdir()
    prom_dir.mkdir()
    receiver = f"http://127.0.0.1:{free_port()}/alerts"  # nothing listens: not awaited here
    async with alertmanager(am_dir, alertmanager_config(receiver)) as am_url:
        config = prometheus_config(agent_url[len("http://") :], am_url[len("http://") :])
        _promtool_check(prom_dir, config)
        async with prometheus(prom_dir, config) as prom_url, aiohttp.ClientSession() as s:
            await _check_prometheus(s, prom_url, agent_url)
            alerts = await _until(lambda: _upstream_down(s, am_url), "alert in AM", 240)
    [alert] = alerts
    assert alert["labels"]["severity"] == "critical"
    assert alert["receivers"] == [{"name": "inferwatch-webhook"}]
    assert alert["generatorURL"].startswith(prom_url)


async def _check_prometheus(s, prom_url: str, agent_url: str) -> None:
    async def scraped():
        targets = (await _prom(s, prom_url, "targets"))["activeTargets"]
        return [t for t in targets if t["health"] == "up"]

    [target] = await _until(scraped, "the agent scraped", 90)
    assert target["labels"]["job"] == "inferwatch"
    assert target["scrapeUrl"] == agent_url + "/metrics"

    async def recorded():
        return (await _prom(s, prom_url, "query", query=RECORDED))["result"]

    [series] = await _until(recorded, "the recording rule has a value", 120)
    assert series["metric"]["tenant"] == "default"
    assert float(series["value"][1]) >= 0
    groups = (await _prom(s, prom_url, "rules"))["groups"]
    assert {Path(g["file"]).name for g in groups} == {"recording.yml", "alerts.yml"}


async def _upstream_down(s, am_url: str) -> list[dict]:
    alerts = await _am_alerts(s, am_url)
    return [a for a in alerts if a["labels"]["alertname"] == "InferwatchUpstreamDown"]


def test_agent_config_is_valid_as_shipped():
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "config", "show", "--config", str(AGENT_CONFIG)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    shown = yaml.safe_load(done.stdout)
    assert shown["elasticsearch"]["url"] == "http://elasticsearch:9200"
    assert shown["store"]["dir"] == "/var/lib/inferwatch"  # the compose file's volume
    assert shown["alerts"]["webhooks"][0]["format"] == "alertmanager"
