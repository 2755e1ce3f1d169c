"""The agent's image (deploy/Containerfile), run with podman the way a user runs it: in
front of the scripted test upstream (not vLLM), read-only root filesystem, the data folder
a mounted volume. It answers /health, proxies a chat completion and a stream, writes its
store to the volume, runs as uid 10001, and stops on SIGTERM with status 0. Bad starts
(a config with an error, a read-only or foreign-owned data volume) are one line and the
exit status says which."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from pathlib import Path

import aiohttp
import pytest

from dashboards.grafana.export import BOARDS
from tests.conftest import free_port
from tests.containers import IMAGE, podman, require_image, run_args, wait_answering

pytestmark = [pytest.mark.integration, pytest.mark.container, pytest.mark.timeout(300)]

UID = 10001
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hello there"}]}


def _data_dir(tmp_path: Path, mode: int = 0o700, owner: int = UID) -> Path:
    data = tmp_path / "data"
    data.mkdir(mode=mode)
    os.chown(data, owner, owner)
    return data


async def _run(*args: str, **kw):
    return await asyncio.to_thread(podman, *args, **kw)


@pytest.fixture
async def container(tmp_path, fake_upstream):
    """The agent's container in front of the fake upstream; yields (name, url, data dir)."""
    require_image()
    name = f"iw-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    data = _data_dir(tmp_path)
    # The image's HEALTHCHECK reads the port from the environment (--listen is argv).
    args = run_args(name, data, "-e", f"INFERWATCH_LISTEN__PORT={port}")
    up = ["up", "--upstream", fake_upstream.url, "--listen", f"127.0.0.1:{port}"]
    await _run(*args, IMAGE, *up)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_answering(url + "/health/live", name, 60)
        yield name, url, data
    finally:
        await _run("rm", "-f", "-t", "0", name, check=False)


async def test_the_container_serves_proxies_stores_and_stops_on_sigterm(container):
    name, url, data = container
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/health") as r:
            assert r.status == 200
        async with s.post(url + "/v1/chat/completions", json=CHAT) as r:
            assert r.status == 200
            body = await r.json()
        assert body["choices"][0]["message"]["content"]
        stream = {**CHAT, "stream": True}
        async with s.post(url + "/v1/chat/completions", json=stream) as r:
            assert r.status == 200
            text = (await r.read()).decode()
        assert text.rstrip().endswith("data: [DONE]") and text.count("data: ") >= 3
        async with s.get(url + "/metrics") as r:
            metrics = await r.text()
    # No GPU in the container: the NVML collector reports no data, it does not fail.
    assert 'inferwatch_collector_no_data{collector="nvml"} 1.0' in metrics
    health = await _run("healthcheck", "run", name, check=False)
    assert health.returncode == 0, health.stderr

    # SIGTERM, then SIGKILL after 10 s: status 0 (not 137) means it stopped within 10 s.
    await _run("stop", "-t", "10", name, timeout=30)
    status = await _run("inspect", "-f", "{{.State.ExitCode}}", name)
    assert status.stdout.strip() == "0"
    logs = (await _run("logs", name)).stderr
    assert "Traceback" not in logs
    rows = sqlite3.connect(data / "requests.sqlite3").execute(
        "SELECT operation, status, stream FROM requests ORDER BY wall_time"
    )
    assert [tuple(r) for r in rows] == [("chat", "ok", 0), ("chat", "ok", 1)]


async def test_the_container_runs_as_uid_10001_on_a_read_only_root(container):
    name, _, data = container
    ids = await _run("exec", name, "id", "-u")
    assert ids.stdout.strip() == str(UID)
    write = await _run("exec", name, "touch", "/opt/inferwatch/x", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    assert (data / ".lock").stat().st_uid == UID  # what it writes, it writes to the volume


def test_the_image_declares_user_volume_healthcheck_and_labels():
    require_image()
    [info] = json.loads(podman("image", "inspect", IMAGE).stdout)
    config = info["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert "/var/lib/inferwatch" in config["Volumes"]
    assert config["Entrypoint"] == ["inferwatch"]
    assert "/health/live" in " ".join(info["Healthcheck"]["Test"])  # docker format keeps it
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "inferwatch"
    assert labels["org.opencontainers.image.version"] not in ("", "0.0.0")
    assert labels["org.opencontainers.image.source"].startswith("https://")


def _start_fails(tmp_path: Path, *args: str, up: tuple[str, ...] = ()) -> tuple[int, str]:
    """Run the image to completion; (exit status, stderr)."""
    require_image()
    # --no-healthcheck: podman here has no systemd to time it and says so on stderr.
    cmd = ["run", "--rm", "--no-healthcheck", "--network=host", "--read-only", *args, IMAGE, "up"]
    cmd += ["--upstream", "http://127.0.0.1:9", "--listen", f"127.0.0.1:{free_port()}", *up]
    proc = podman(*cmd, check=False, timeout=60)
    return proc.returncode, proc.stderr.strip()


def test_a_config_with_an_error_is_status_2_and_says_which_key(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("listen:\n  prot: 8000\n")
    config.chmod(0o644)
    mount = f"{config}:/etc/inferwatch/config.yaml:ro"
    status, err = _start_fails(
        tmp_path, "-v", mount, up=("--config", "/etc/inferwatch/config.yaml")
    )
    assert status == 2, err
    assert err.splitlines()[0] == "inferwatch: invalid configuration:"
    assert "listen.prot: unknown key; did you mean listen.port?" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("mount", "owner"), [(":ro", UID), ("", 0)], ids=["read-only volume", "owned by root"]
)
def test_an_unusable_data_volume_is_status_3_and_one_line(tmp_path, mount, owner):
    data = _data_dir(tmp_path, owner=owner)
    status, err = _start_fails(tmp_path, "-v", f"{data}:/var/lib/inferwatch{mount}")
    assert status == 3, err
    assert len(err.splitlines()) == 1
    assert "cannot use data folder /var/lib/inferwatch" in err and "user 10001" in err


def test_no_data_volume_at_all_is_status_3_and_one_line(tmp_path):
    """As on Kubernetes with no volume mounted: podman's --image-volume=ignore drops the
    image's VOLUME, so the data folder lies on the read-only root filesystem."""
    status, err = _start_fails(tmp_path, "--image-volume=ignore")
    assert status == 3, err
    assert len(err.splitlines()) == 1
    assert "cannot use data folder /var/lib/inferwatch" in err and "Read-only file system" in err


def test_the_image_exports_the_grafana_boards_as_compose_does(tmp_path):
    """deploy/compose.yaml's grafana-dashboards service: the installed package (the rule
    files the cost board reads included) writes the provisioning flavour to a volume; a
    write into the read-only package is one line, not a traceback."""
    require_image()
    data = _data_dir(tmp_path)
    volume = f"{data}:/var/lib/inferwatch"
    run = ["run", "--rm", "--no-healthcheck", "--read-only", "-v", volume, IMAGE]
    out = podman(*run, "grafana", "export", "--provisioning", "/var/lib/inferwatch", check=False)
    assert out.returncode == 0, out.stderr
    written = sorted(p.name for p in data.glob("inferwatch-*.json"))
    assert written == sorted(f"inferwatch-{k}.json" for k in BOARDS)
    cost = json.loads((data / "inferwatch-cost.json").read_text())
    assert "__inputs" not in cost and cost["uid"] == "inferwatch-cost"
    refused = podman(*run, "kibana", "export", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("kibana export: cannot write")
    assert "Read-only file system" in refused.stderr and "Traceback" not in refused.stderr
