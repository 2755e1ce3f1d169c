"""vLLM's own output, in its own file beside the agent's data, not in the agent's log.

A terminal then shows the agent's few lines and its ready banner instead of hundreds of
vLLM lines wrapped in JSON. The file is rotated at each start of the agent (the previous
run's becomes `vllm.log.1`), so it never grows past two runs; restarts of vLLM within one
run append to it, each after a marker line. Every line is masked first: vLLM prints its
non-default arguments, `--api-key` included.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from common.masking import mask_text

_TAIL_LINES = 20


class VllmLog:
    """The sink of vLLM's output lines (`Supervisor(on_line=...)`); thread-safe."""

    def __init__(self, path: str | Path, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self._secrets = tuple(secrets)
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)  # line-buffered

    def __call__(self, line: str) -> None:
        """Write one line of vLLM's output (masked)."""
        line = mask_text(line, self._secrets)
        with self._lock:
            self._tail.append(line)
            if not self._file.closed:
                self._file.write(line + "\n")

    def mark_start(self) -> None:
        """A marker line before each (re)start of vLLM."""
        self(f"----- inferwatch: starting vLLM at {time.strftime('%Y-%m-%d %H:%M:%S')} -----")

    def tail(self) -> list[str]:
        """The last lines written (to say why vLLM failed without opening the file)."""
        with self._lock:
            return list(self._tail)

    def close(self) -> None:
        """Close the file; later lines are kept in the tail only."""
        with self._lock:
            self._file.close()
