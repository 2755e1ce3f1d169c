"""Opt-in diagnostic: says what an event loop was doing when it stalled.

A heartbeat on the loop every `beat_s` notes the time and the CPU time of the process and
of the loop's thread; a watchdog thread looks at it every `beat_s`, and once the heartbeat
is late by more than `threshold_s` it takes the loop thread's stack (sys._current_frames).
When the loop runs again the heartbeat reports the gap as one JSON line: its length, the
CPU the loop's thread and the whole process used over it (a gap with little CPU means the
process waited for a core: another process ran), the garbage collections inside it (from
gc.callbacks, per generation) and the stacks sampled. Off by default and costs nothing
then: `inferwatch up` starts it only when INFERWATCH_STALL_WATCH names a file
(bench/soak.py sets it); the soak's load generator uses it on its own loop too.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import sys
import threading
import time
import traceback
from collections import deque
from typing import TextIO

ENV = "INFERWATCH_STALL_WATCH"  # a file to append one JSON line per stall to
ENV_MS = "INFERWATCH_STALL_WATCH_MS"  # how late a heartbeat is a stall (default 50)
STACK_FRAMES = 24

log = logging.getLogger("inferwatch.stallwatch")


class StallWatch:
    """Heartbeat on `loop`, watchdog thread, one JSON line per stall written to `out`."""

    def __init__(self, out: TextIO, threshold_s: float = 0.05, beat_s: float = 0.01) -> None:
        self.out, self.threshold_s, self.beat_s = out, threshold_s, beat_s
        self._last = (time.monotonic(), time.process_time(), time.thread_time())
        self._stacks: list[str] = []
        self._gcs: deque[tuple[int, float, float]] = deque(maxlen=256)  # gen, start, s
        self._gc_start = 0.0
        self._stop = threading.Event()
        self._thread_id = 0
        self.lost = 0  # lines that could not be written

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start beating on `loop` (call from its thread) and watching from a thread."""
        self._thread_id = threading.get_ident()
        self._last = (time.monotonic(), time.process_time(), time.thread_time())
        gc.callbacks.append(self._on_gc)
        self._loop = loop
        loop.call_later(self.beat_s, self._beat)
        threading.Thread(target=self._watch, name="stallwatch", daemon=True).start()

    def stop(self) -> None:
        """Stop the watchdog and the GC timing (the heartbeat stops at its next beat)."""
        self._stop.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        now = time.monotonic()  # the heartbeat's clock, to place it inside a gap
        if phase == "start":
            self._gc_start = now
        else:
            self._gcs.append((info["generation"], self._gc_start, now - self._gc_start))

    def _beat(self) -> None:
        now = (time.monotonic(), time.process_time(), time.thread_time())
        gap = now[0] - self._last[0] - self.beat_s
        if gap > self.threshold_s:
            self._report(self._last, now)
        self._last = now
        self._stacks = []
        if not self._stop.is_set():
            self._loop.call_later(self.beat_s, self._beat)

    def _report(self, before: tuple, now: tuple) -> None:
        gcs = [
            {"gen": g, "ms": round(s * 1e3, 2)} for g, start, s in self._gcs if start >= before[0]
        ]
        line = {
            "wall": time.time(),
            "gap_ms": round((now[0] - before[0] - self.beat_s) * 1e3, 1),
            "loop_thread_cpu_ms": round((now[2] - before[2]) * 1e3, 1),
            "process_cpu_ms": round((now[1] - before[1]) * 1e3, 1),
            "gc": gcs,
            "stacks": self._stacks[:3],
        }
        # A stall is rare and this is a debug aid: one small write, then the loop goes on.
        # A write that fails (a full disk) costs that line only, said once; the heartbeat
        # and the agent go on.
        try:
            self.out.write(json.dumps(line) + "\n")
            self.out.flush()
        except OSError as err:
            self.lost += 1
            if self.lost == 1:
                log.warning("stall watch: a line could not be written (%s); lines lost", err)

    def _watch(self) -> None:
        while not self._stop.wait(self.beat_s):
            late = time.monotonic() - self._last[0] - self.beat_s
            if late > self.threshold_s * (1 + len(self._stacks)) and len(self._stacks) < 3:
                frame = sys._current_frames().get(self._thread_id)
                if frame is not None:
                    self._stacks.append(_stack(frame))


def _stack(frame) -> str:
    """The innermost frames, import machinery left out (an import's stack is mostly that,
    and the frame that started the import is the one that tells who)."""
    frames = [f for f in traceback.format_stack(frame) if "<frozen " not in f]
    return "".join(frames[-STACK_FRAMES:])


def watch_from_env(environ: dict[str, str], loop: asyncio.AbstractEventLoop) -> StallWatch | None:
    """Start a StallWatch writing to the file `environ[ENV]` names, or nothing if unset;
    its threshold `environ[ENV_MS]` milliseconds (default 50)."""
    path = environ.get(ENV)
    if not path:
        return None
    try:
        threshold_s = float(environ.get(ENV_MS, "50")) / 1e3
    except ValueError:
        threshold_s = math.nan
    # 0, negative or NaN would report every 10 ms beat as a stall: a file without end.
    if not (threshold_s > 0 and math.isfinite(threshold_s)):
        raise ValueError(f"{ENV_MS} must be milliseconds > 0, got {environ[ENV_MS]!r}")
    out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - the process's lifetime
    watch = StallWatch(out, threshold_s)
    watch.start(loop)
    return watch
