"""The unit tier's rule, held for every test here: it starts no process and listens on
no socket (a test that needs a server or a child process goes to tests/integration)."""

from __future__ import annotations

import asyncio
import multiprocessing.process
import socket
import subprocess
from collections.abc import Iterator

import pytest


class UnitTierStartsNoServers(AssertionError):
    """A unit test started a process or a listening socket."""


def _refuse(what: str):
    def refused(*_args, **_kwargs):
        raise UnitTierStartsNoServers(
            f"a unit test starts no {what}: make it pure, or move it to tests/integration "
            "(pytest.mark.integration)"
        )

    return refused


# Every way a test here could start one: subprocess and asyncio's subprocesses (which go
# through subprocess.Popen as well), multiprocessing and process pools, and any server
# (aiohttp, uvicorn, asyncio.start_server and plain sockets all call socket.listen).
_GUARDED = [
    (subprocess.Popen, "__init__", "subprocess"),
    (asyncio, "create_subprocess_exec", "subprocess"),
    (asyncio, "create_subprocess_shell", "subprocess"),
    (multiprocessing.process.BaseProcess, "start", "child process"),
    (socket.socket, "listen", "listening socket"),
]


# Known offenders, in files being rewritten elsewhere (issue 20): they move to
# tests/integration, and leave this list, with that rewrite. Nothing new goes here.
NOT_YET_MOVED: tuple[str, ...] = ()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


class _guarded:
    """Patches the starters for a unit-marked item (its fixtures included)."""

    def __init__(self, item: pytest.Item) -> None:
        self.on = item.get_closest_marker("unit") is not None and not any(
            item.nodeid.startswith(known) for known in NOT_YET_MOVED
        )
        self.patch = pytest.MonkeyPatch()

    def __enter__(self) -> None:
        if self.on:
            for owner, name, what in _GUARDED:
                self.patch.setattr(owner, name, _refuse(what))

    def __exit__(self, *_exc) -> None:
        self.patch.undo()
