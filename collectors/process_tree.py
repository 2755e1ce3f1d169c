"""Finding the vLLM server's processes: a given PID, or whoever listens on its TCP port.

vLLM runs as a tree (the API server, its engine core, workers), so the metered unit is the
root process plus all its descendants. The root is found once and kept while it lives;
its descendants are listed afresh on each call, since workers come and go.
"""

from __future__ import annotations

import logging
import threading
import time

import psutil

log = logging.getLogger("inferwatch.collectors")

_RETRY_S = 10.0  # looking a port up scans every socket: not on every tick while vLLM is down
_TREE_REFRESH_S = 5.0  # listing descendants scans all of /proc; vLLM's workers live long


class VllmProcessFinder:
    """The vLLM process tree, by `pid` or by the TCP `port` it listens on (or neither)."""

    def __init__(self, pid: int | None = None, port: int | None = None) -> None:
        self._pid = pid
        self._port = port
        self._root: psutil.Process | None = None
        self._next_lookup = 0.0
        self._tree: list[psutil.Process] = []
        self._tree_at = float("-inf")
        self._lock = threading.Lock()  # shared by collectors running in different threads

    def root(self) -> psutil.Process | None:
        """The root process, or None when it cannot be found (not started, gone, not set)."""
        with self._lock:
            return self._find_root()

    def _find_root(self) -> psutil.Process | None:
        if self._root is not None and self._root.is_running():
            return self._root
        self._root = None
        now = time.monotonic()
        if now < self._next_lookup:
            return None
        self._next_lookup = now + _RETRY_S
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
