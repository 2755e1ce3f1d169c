"""The store writer's CPU scheduling class: idle while it keeps up, normal when it must not wait.

Why: on a machine whose cores the request path needs, the writer's commits (a millisecond
or two of CPU every flush interval) take a core from the event loop often enough to show
in the agent's p99 latency (measured: c1 p99 2.3 ms with the writer at normal priority,
1.3-1.5 ms at SCHED_IDLE or with the store off; `bench/proxy_ablation.py`). Under Linux's
SCHED_IDLE class a thread runs only on a core nothing else wants and is preempted as soon
as something does, which is what background bookkeeping should do.

An idle thread can starve on a busy machine, so the event loop raises it back to normal
(SCHED_OTHER) when a record has waited too long or a caller waits for a commit, and the
writer lowers itself again once it has caught up. Leaving SCHED_IDLE needs CAP_SYS_NICE
or a RLIMIT_NICE of 20 (not the case in a default container): `can_leave_idle` tries it
in a throwaway thread, and without it the writer stays at normal priority.
"""

from __future__ import annotations

import functools
import logging
import os
import threading

log = logging.getLogger("inferwatch.store")


def _set(tid: int, idle: bool) -> None:
    policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
    os.sched_setscheduler(tid, policy, os.sched_param(0))


def supported() -> bool:
    """True where threads can be given SCHED_IDLE (Linux)."""
    return hasattr(os, "SCHED_IDLE") and hasattr(os, "sched_setscheduler")


@functools.cache
def can_leave_idle() -> bool:
    """Whether this process may move a thread from SCHED_IDLE back to SCHED_OTHER (tried
    once, in a throwaway thread, so a refusal strands nobody)."""
    if not supported():
        return False
    result: list[bool] = []

    def probe() -> None:
        tid = threading.get_native_id()
        try:
            _set(tid, True)
            _set(tid, False)
            result.append(True)
        except OSError as err:
            log.info(
                "store writer runs at normal priority: this process may not leave SCHED_IDLE",
                extra={"error": str(err)},
            )
            result.append(False)

    t = threading.Thread(target=probe, name="store-priority-probe")
    t.start()
    t.join()
    return result[0]


def set_idle(tid: int, idle: bool) -> bool:
    """Put thread `tid` in SCHED_IDLE (idle) or SCHED_OTHER; False (logged) if refused."""
    try:
        _set(tid, idle)
    except OSError as err:
        log.warning(
            "could not change the store writer's priority",
            extra={"idle": idle, "error": str(err)},
        )
        return False
    return True


def is_idle(tid: int) -> bool:
    """True when thread `tid` is in SCHED_IDLE now."""
    return os.sched_getscheduler(tid) == os.SCHED_IDLE
