"""Keep the bundled vLLM running: start it, watch it, restart it with backoff when it dies.

While vLLM is (re)starting the agent refuses generative requests with a 503 and a
`Retry-After` (the proxy reads `upstream.state.starting`, which the supervisor sets) and
`/health` reports the upstream as `starting`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from common.masking import mask_argv
from serving.config import ServingConfig
from serving.launcher import VLLMDied, VLLMProcess
from serving.vllm_args import Launch
from serving.vllm_log import VllmLog


class StartingFlag(Protocol):
    """The upstream state's flag the supervisor sets while vLLM (re)starts."""

    starting: bool


class UpstreamHandle(Protocol):
    """What the supervisor needs of the agent's upstream (`agent.upstream.Upstream`): the
    `state.starting` flag, which makes the proxy answer 503, and `mark(up, error)`."""

    @property
    def state(self) -> StartingFlag: ...

    def mark(self, up: bool, error: str | None = None) -> None: ...


log = logging.getLogger("inferwatch.serving")
vllm_log = logging.getLogger("inferwatch.vllm")
_POLL_S = 0.2
_STABLE_S = 60.0  # a vLLM that stayed up this long resets the backoff


def forward_line(line: str) -> None:
    """Default sink of vLLM's output: the agent's logger, prefixed so lines are told apart."""
    if line:
        vllm_log.info("vllm | %s", line)


class Supervisor:
    """Runs one vLLM as a child and keeps it up until `stop()`.

    vLLM's output goes to `output` (its own log file) when given, else line by line to
    `on_line` (by default the agent's logger)."""

    def __init__(
        self,
        cfg: ServingConfig,
        launch: Launch,
        upstream: UpstreamHandle,
        restarts=None,
        on_line: Callable[[str], None] = forward_line,
        output: VllmLog | None = None,
        on_ready: Callable[[float], None] | None = None,
        on_tick: Callable[[float], None] | None = None,
        on_spawn: Callable[[int], None] | None = None,
    ) -> None:
        """`on_ready(start_s)` each time vLLM becomes ready; `on_tick(elapsed_s)` while it
        starts (progress); `on_spawn(pid)` for each new vLLM (the cost meter follows it)."""
        self.cfg, self.launch, self.upstream = cfg, launch, upstream
        self._restarts = restarts  # prometheus Counter (inferwatch_vllm_restarts_total) or None
        self.output = output
        self._on_line = output if output is not None else on_line
        self.process: VLLMProcess | None = None
        self.restart_count = 0
        self.ready_event = asyncio.Event()  # set each time vLLM becomes ready
        self.on_ready, self.on_tick, self.on_spawn = on_ready, on_tick, on_spawn
        self._stopping = False
        self._task: asyncio.Task | None = None

    async def start(self, agent=None) -> None:
        """Begin supervising (usable as an `Agent.on_startup` hook)."""
        self._starting(None)  # refuse requests from the very first one until vLLM is ready
        self._task = asyncio.create_task(self._run(), name="vllm-supervisor")

    async def stop(self, agent=None) -> None:
        """Stop vLLM and every process it started (usable as an `Agent.on_cleanup` hook)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.process is not None:
            await asyncio.to_thread(self.process.stop, self.cfg.stop_grace_s)
        if self.output is not None:
            self.output.close()

    def _starting(self, reason: str | None) -> None:
        self.ready_event.clear()
        self.upstream.state.starting = True
        if reason:
            self.upstream.mark(False, reason)

    async def _run(self) -> None:
        backoff = self.cfg.restart_backoff_s
        reason = None
        while not self._stopping:
            self._starting(reason)
            up_for = await self._one_life()
            if self._stopping:
                return
            self._count_restart()
            code = self.process.returncode if self.process is not None else None
            reason = f"vLLM exited with code {code}"
            backoff = self.cfg.restart_backoff_s if up_for >= _STABLE_S else backoff
            log.error("%s; restarting in %.1fs%s", reason, backoff, self._see_output())
            self._starting(reason)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.cfg.restart_backoff_max_s)

    async def _one_life(self) -> float:
        """Start vLLM, wait until ready, then until it dies. Returns seconds it was ready."""
        if self.process is not None:  # reap what is left of the previous one
            await asyncio.to_thread(self.process.stop, 1.0)
        if self.output is not None:
            self.output.mark_start()
        proc = self.process = VLLMProcess(self.launch, self._on_line)
        if self.on_spawn is not None:  # metered from its first instant, not from a port scan
            self.on_spawn(proc.pid)
        where = {"output": str(self.output.path)} if self.output is not None else {}
        # Masked: vLLM's arguments may carry --api-key or a token.
        log.info("starting vLLM", extra={**where, "argv": " ".join(mask_argv(self.launch.argv))})
        if not await self._wait_ready(proc):
            return 0.0
        loop = asyncio.get_running_loop()
        ready_at = loop.time()
        while proc.returncode is None:
            await asyncio.sleep(_POLL_S)
        self.upstream.state.starting = True  # refuse at once, before anything else notices
        return loop.time() - ready_at

    async def _wait_ready(self, proc: VLLMProcess) -> bool:
        try:
            took = await asyncio.to_thread(proc.wait_ready, self.cfg.start_timeout_s, self.on_tick)
        except (VLLMDied, TimeoutError) as err:
            # Stopped first: that also drains its output, so the last lines are all there.
            await asyncio.to_thread(proc.stop, self.cfg.stop_grace_s)
            log.error("vLLM did not become ready: %s%s", err, self._see_output(tail=True))
            return False
        self.upstream.state.starting = False
        self.upstream.mark(True)
        self.ready_event.set()
        log.info("vLLM ready", extra={"start_s": round(took, 1), "url": self.launch.url})
        if self.on_ready is not None:
            self.on_ready(took)
        return True

    def _see_output(self, tail: bool = False) -> str:
        """Where to read why vLLM failed: its log file, and its last lines if asked."""
        if self.output is None:
            return ""
        text = f" (vLLM's output: {self.output.path})"
        if tail and (lines := self.output.tail()):
            text += "; its last lines:\n" + "\n".join(f"  {line}" for line in lines)
        return text

    def _count_restart(self) -> None:
        self.restart_count += 1
        if self._restarts is not None:
            self._restarts.inc()
