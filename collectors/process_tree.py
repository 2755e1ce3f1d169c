"""Finding the vLLM server's processes: the PID its supervisor started, a configured PID, or
whoever listens on its TCP port.

vLLM runs as a tree (the API server, its engine core, workers), so the metered unit is the
root process plus all its descendants. The root is found once and kept while it lives;
its descendants are listed afresh on each call, since workers come and go.

The bundled vLLM's supervisor hands each process it starts to `follow` (at start and at
every restart), so its tree is metered from its first instant. Found by port instead
(`--upstream`), vLLM is only metered from the tick that finds it: while it is not found
the port is looked up again every second, not at every call (a lookup scans every socket
of the host, ~20 ms on a busy machine).
"""

from __future__ import annotations

import logging
import threading
import time

import psutil

log = logging.getLogger("inferwatch.collectors")

_PORT_RETRY_S = 1.0  # a port lookup scans every socket: at most this often while not found
_TREE_REFRESH_S = 5.0  # listing descendants scans all of /proc; vLLM's workers live long


class VllmProcessFinder:
    """The vLLM process tree, by `pid` or by the TCP `port` it listens on (or neither)."""

    def __init__(self, pid: int | None = None, port: int | None = None) -> None:
        self._pid = pid
        self._port = port
        self._root: psutil.Process | None = None
        self._followed = False  # the root was handed over by `follow`: never looked up again
        self._next_lookup = 0.0
        self._tree: list[psutil.Process] = []
        self._tree_at = float("-inf")
        self._lock = threading.Lock()  # shared by collectors running in different threads

    def follow(self, pid: int) -> None:
        """Meter the process tree of `pid` from now on: the bundled vLLM's supervisor calls
        this right after starting each vLLM process (the first one and every restart)."""
        try:
            root = psutil.Process(pid)  # taken now: a pid reused after it exits is never read
        except psutil.Error as err:
            log.debug("vLLM process %s not found: %s", pid, err)
            root = None
        with self._lock:
            self._pid, self._port, self._root, self._followed = pid, None, root, True
            self._tree, self._tree_at = [], float("-inf")

    def root(self) -> psutil.Process | None:
        """The root process, or None when it cannot be found (not started, gone, not set)."""
        with self._lock:
            return self._find_root()

    def _find_root(self) -> psutil.Process | None:
        if self._root is not None and self._root.is_running():
            return self._root
        self._root = None
        if self._followed:  # gone: its supervisor hands the next one over when it starts it
            return None
        now = time.monotonic()
        if self._pid is None and now < self._next_lookup:
            return None  # a PID is looked up at every call (cheap); a port scan is not
        self._next_lookup = now + _PORT_RETRY_S
        self._root = self._lookup()
        return self._root

    def tree(self) -> list[psutil.Process]:
        """The root and its living descendants (listed afresh every few seconds); empty when
        there is no root."""
        with self._lock:
            root = self._find_root()
            if root is None:
                return []
            now = time.monotonic()
            if self._tree[:1] != [root] or now - self._tree_at > _TREE_REFRESH_S:
                self._tree, self._tree_at = _descendants(root), now
            return [p for p in self._tree if p.is_running()]

    def pids(self) -> frozenset[int]:
        """PIDs of the tree, to tell vLLM's processes apart from others on a shared GPU."""
        return frozenset(p.pid for p in self.tree())

    def _lookup(self) -> psutil.Process | None:
        try:
            if self._pid is not None:
                return psutil.Process(self._pid)
            if self._port is not None:
                return listener_of(self._port)
        except psutil.Error as err:
            log.debug("vLLM process not found: %s", err)
        return None


def _descendants(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []  # the root just exited; root() notices on the next call


def listener_of(port: int) -> psutil.Process | None:
    """The process listening on TCP `port` on any local address, if there is one."""
    for conn in psutil.net_connections(kind="tcp"):
        listening = conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        if listening and conn.pid is not None:
            return psutil.Process(conn.pid)
    return None
