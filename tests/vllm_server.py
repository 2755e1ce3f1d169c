"""A real vLLM for tests: the tiny model built once into a cache, and a server on a free port.

    from tests.vllm_server import tiny_model, VLLMServer

    with VLLMServer(tiny_model()) as server:      # ~40 s on an idle 2-core machine
        openai.OpenAI(base_url=server.url + "/v1", api_key="x")...

`tiny_launch()` gives the same launch for code that supervises vLLM itself.
Set INFERWATCH_TEST_CACHE to choose the cache directory (default ~/.cache/inferwatch-tests).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from serving.config import ServingConfig
from serving.launcher import VLLMProcess
from serving.models import build_tiny, is_built
from serving.vllm_args import Launch, build_launch, detect_machine, free_port

TINY_NAME = "tiny"
START_TIMEOUT_S = float(os.environ.get("INFERWATCH_VLLM_START_TIMEOUT", "600"))


def cache_dir() -> Path:
    """Where test models are cached across sessions."""
    default = Path.home() / ".cache" / "inferwatch-tests"
    path = Path(os.environ.get("INFERWATCH_TEST_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def tiny_model() -> Path:
    """The tiny model directory, built once (safe when several sessions race for it)."""
    target = cache_dir() / "models" / TINY_NAME
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait and reuse its result
        if not is_built(target):
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
            build_tiny(tmp, progress=False)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
    return target


def tiny_launch(model_dir: Path | None = None, served_name: str = TINY_NAME) -> Launch:
    """A vLLM launch for the tiny model on a free port, sized for tests (1 GiB KV cache)."""
    cfg = ServingConfig(served_model_name=served_name, kv_cache_gib=1, max_model_len=2048)
    return build_launch(cfg, detect_machine(), model_dir or tiny_model(), free_port())


class VLLMServer:
    """One real vLLM OpenAI server; its output goes to `log_path`."""

    def __init__(
        self, model_dir: Path | None = None, served_name: str = TINY_NAME, log_path=None
    ) -> None:
        self.launch = tiny_launch(model_dir, served_name)
        self.url = self.launch.url
        self.served_name = served_name
        self.log_path = Path(log_path or tempfile.mktemp(prefix="vllm-", suffix=".log"))
        self.process: VLLMProcess | None = None
        self.start_s: float | None = None

    def start(self) -> VLLMServer:
        """Start and wait until ready; raises with the log's tail if it fails."""
        log = self.log_path.open("a", buffering=1)
        self.process = VLLMProcess(self.launch, lambda line: log.write(line + "\n"))
        try:
            self.start_s = self.process.wait_ready(START_TIMEOUT_S)
        except Exception as err:
            self.stop()
            raise RuntimeError(f"vLLM failed to start: {err}\n{self.log_tail()}") from err
        return self

    def stop(self) -> None:
        """Stop the server and every process it started."""
        if self.process is not None:
            self.process.stop(grace_s=15)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines vLLM printed."""
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_banner(proc, timeout_s: float) -> str:
    """The ready banner `inferwatch up` prints on stdout (up to its last line), or an
    AssertionError with the last lines seen."""
    import time

    deadline = time.monotonic() + timeout_s
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("  demo traffic:"):  # the banner's last line
            return "".join(seen)
        if time.monotonic() > deadline:
            break
    raise AssertionError("no ready banner:\n" + "".join(seen[-40:]))


def post_json(url: str, body: dict) -> dict:
    """POST a JSON body and return the JSON answer (urllib: no event loop needed)."""
    import json
    import urllib.request

    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())
