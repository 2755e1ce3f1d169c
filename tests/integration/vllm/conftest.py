"""One real vLLM (tiny model) per session, supervised by the agent, which runs in a thread.

`stack` gives the agent's URL, its in-memory record sink, the supervisor (to kill vLLM)
and vLLM's own URL (to read its counters).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from dataclasses import dataclass

import pytest

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from agent.pipeline import MemorySink
from serving.bundled import attach
from serving.supervisor import Supervisor
from tests.vllm_server import START_TIMEOUT_S, tiny_launch


@dataclass
class Stack:
    """The agent in front of a supervised vLLM, served from a background event loop."""

    url: str
    vllm_url: str
    model: str
    sink: MemorySink
    supervisor: Supervisor
    agent: Agent
    loop: asyncio.AbstractEventLoop

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Block until vLLM is ready behind the agent (after start or a restart)."""
        fut = asyncio.run_coroutine_threadsafe(self.supervisor.ready_event.wait(), self.loop)
        fut.result(timeout=timeout_s)

    def wait_records(self, count: int, timeout_s: float = 30.0) -> list:
        """The sink's records once at least `count` have arrived (the pipeline is async)."""
        deadline = time.monotonic() + timeout_s
        while len(self.sink.records) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.sink.records)


def _serve_forever(ready: threading.Event, box: dict, stop: threading.Event) -> None:
    async def main() -> None:
        store = {"dir": tempfile.mkdtemp(prefix="iw-vllm-store-")}  # never the cwd's
        settings = load_settings(overrides={"listen": {"port": 0}, "store": store})
        launch = tiny_launch()
        sink = MemorySink(limit=100_000)
        agent = Agent(settings, launch.url, [sink])
        sup = attach(agent, settings.serving.model_copy(update={"stop_grace_s": 15}), launch, False)
        runner = await serve(agent, "127.0.0.1", 0)
        box.update(
            stack=Stack(
                f"http://127.0.0.1:{bound_port(runner)}",
                launch.url,
                launch.served_name,
                sink,
                sup,
                agent,
                asyncio.get_running_loop(),
            )
        )
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    asyncio.run(main())


@pytest.fixture(scope="session")
def stack():
    """The session's agent + supervised vLLM; stopped (no process left) at the end."""
    ready, stop, box = threading.Event(), threading.Event(), {}
    thread = threading.Thread(target=_serve_forever, args=(ready, box, stop), daemon=True)
    thread.start()
    assert ready.wait(60), "agent did not start"
    st: Stack = box["stack"]
    st.wait_ready()
    yield st
    stop.set()
    thread.join(120)
    assert st.supervisor.process.returncode is not None, "vLLM still running after stop"
