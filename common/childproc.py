"""Child processes the agent starts never outlive it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies (a no-op elsewhere).
    Call it in the child: if the agent is killed outright (SIGKILL, OOM), its children
    get `sig` instead of living on as orphans."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)


def lower_to_idle() -> bool:
    """Move this process into Linux's SCHED_IDLE class (threads it starts later and
    programs it execs inherit it): it then runs only on CPU nothing else wants. False
    where the class does not exist or the kernel refuses."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        return False
    return True
