"""Run the project's images with podman, for the container tier.

Podman here needs the runc runtime (crun fails on this kernel's cgroups) and a
containers.conf without default ulimits or a pids limit (ARCHITECTURE.md, Real
components); the containers share the host's network so they reach the test servers on
127.0.0.1. Blocking calls: run them with asyncio.to_thread inside async tests, or the
test's own servers stop answering while podman waits.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

IMAGE = os.environ.get("INFERWATCH_TEST_IMAGE", "localhost/inferwatch:dev")
CONF = Path(__file__).with_name("containers.conf")


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """`podman --runtime runc ARGS` with the test containers.conf; text output."""
    binary = shutil.which("podman")
    if binary is None:
        pytest.fail("podman is missing: scripts/test.sh installs it (apt-get install podman)")
    env = {**os.environ, "CONTAINERS_CONF": str(CONF)}
    proc = subprocess.run(
        [binary, "--runtime", os.environ.get("PODMAN_RUNTIME", "runc"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
    return proc


def require_image(image: str = IMAGE) -> None:
    """Fail (not skip) without the image: CI builds it before the tests (scripts/test.sh)."""
    if podman("image", "exists", image, check=False).returncode != 0:
        pytest.fail(f"{image} is missing: build it with `bash deploy/build-image.sh`")


def run_args(name: str, data: Path | None, *extra: str) -> list[str]:
    """`run` options every test container gets: detached, host network, read-only root,
    the data folder bind-mounted (as the agent's uid owns it) when given."""
    args = ["run", "-d", "--name", name, "--network=host", "--read-only"]
    if data is not None:
        args += ["-v", f"{data}:/var/lib/inferwatch"]
    return [*args, *extra]


async def wait_answering(url: str, name: str, seconds: float) -> None:
    """Until GET `url` answers 200, failing with the container's log as soon as container
    `name` has exited (podman calls in a thread: the test's own servers keep answering)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as s:
        while loop.time() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            state = await asyncio.to_thread(podman, "inspect", "-f", "{{.State.Running}}", name)
            if state.stdout.strip() != "true":
                logs = await asyncio.to_thread(podman, "logs", name, check=False)
                raise AssertionError(f"container {name} exited:\n{logs.stderr[-3000:]}")
            await asyncio.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {seconds} s")
