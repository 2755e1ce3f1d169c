"""In-agent half of bench/tail_trace.py: times the agent's background work.

`python bench/tail_probe.py OUT.json <inferwatch args>` runs `agent.cli` with the agent's
background work wrapped in timers (monotonic ns, the clock the load generator also reads):
garbage collections, store writer batches and housekeeping, collector runs (their threads),
cost intervals and housekeeping, per-turn slices (cost releases, safety's off-path checks),
pipeline deliveries. Each becomes (kind, start_ns, end_ns, thread CPU ns); the list is written to OUT.json
when the agent exits. The wrapping is monkeypatching from outside: the agent's code is the
code under test, unchanged.
"""

from __future__ import annotations

import atexit
import collections
import functools
import gc
import inspect
import os
import sys
import time

import orjson

EVENTS: list[tuple[str, int, int, int]] = []
_now, _cpu = time.perf_counter_ns, time.thread_time_ns


def _timed(kind: str, fn):
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def awrapper(*args, **kwargs):
            t0, c0 = _now(), _cpu()
            try:
                return await fn(*args, **kwargs)
            finally:
                EVENTS.append((kind, t0, _now(), _cpu() - c0))

        return awrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0, c0 = _now(), _cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            EVENTS.append((kind, t0, _now(), _cpu() - c0))

    return wrapper


def _patch(cls, name: str, kind: str) -> None:
    setattr(cls, name, _timed(kind, getattr(cls, name)))


def _gc_callback(phase: str, info: dict, _start=[0, 0]) -> None:  # noqa: B006 - a cell
    if phase == "start":
        _start[:] = _now(), _cpu()
    else:
        EVENTS.append((f"gc{info['generation']}", _start[0], _now(), _cpu() - _start[1]))


CENSUS: list[dict] = []
COLLECTED: list[
    int
] = []  # unreachable objects found by each young collection  # with INFERWATCH_PROBE_GC_CENSUS=N: every Nth young collection


def _census_callback(phase: str, info: dict, _n=[0]) -> None:  # noqa: B006 - a cell
    """What a young collection is about to walk: objects by type, and the biggest
    containers (a gen-0 pass costs its objects plus every reference they hold)."""
    if info["generation"] == 2 and phase == "start":
        old = collections.Counter(type(o).__qualname__ for o in gc.get_objects(2))
        CENSUS.append(
            {"generation": 2, "objects": sum(old.values()), "types": dict(old.most_common(25))}
        )
        return
    if info["generation"] != 0:
        return
    if phase == "stop":
        COLLECTED.append(info["collected"])
        return
    _n[0] += 1
    if _n[0] % _CENSUS_EVERY[0]:
        return
    young = gc.get_objects(0)
    types: dict[str, int] = {}
    big = []
    for o in young:
        name = type(o).__qualname__
        types[name] = types.get(name, 0) + 1
        try:
            size = len(o)  # type: ignore[arg-type]
        except Exception:
            continue
        if size >= 64:
            big.append((size, name))
    big.sort(reverse=True)
    CENSUS.append({"young": len(young), "types": types, "big": big[:10]})


_CENSUS_EVERY = [0]


def install() -> None:
    """Wrap the background work of the agent's classes in timers."""
    from agent.cost.engine import CostEngine
    from agent.cost.wiring import CostService
    from agent.perturn import PerTurn
    from agent.pipeline import RecordPipeline
    from agent.safety.stage import SafetyStage
    from agent.store.writer import StoreWriter
    from collectors import registry

    gc.callbacks.append(_gc_callback)
    every = int(os.environ.get("INFERWATCH_PROBE_GC_CENSUS", "0"))
    if every > 0:
        _CENSUS_EVERY[0] = every
        gc.callbacks.insert(0, _census_callback)  # before the timer starts
    _patch(StoreWriter, "_write", "store.write")
    _patch(StoreWriter, "_maybe_retention", "store.housekeeping")
    _patch(StoreWriter, "_maybe_finalise_stale", "store.housekeeping")
    _patch(CostService, "on_intervals", "cost.intervals")
    _patch(CostEngine, "housekeep", "cost.housekeep")
    _patch(RecordPipeline, "_deliver", "pipeline.deliver")
    # Per-request stages after the response (their CPU, for the record path's share).
    _patch(StoreWriter, "put_early", "store.put_early")
    _patch(StoreWriter, "put", "store.put")
    _patch(CostService, "finish", "cost.finish")
    _patch(CostService, "drain", "cost.drain")
    _patch(SafetyStage, "complete", "safety.complete")

    next_ = PerTurn._next

    def per_turn(self):
        t0, c0 = _now(), _cpu()
        try:
            return next_(self)
        finally:
            owner = getattr(self._handle, "__self__", None)
            EVENTS.append((f"perturn.{type(owner).__name__}", t0, _now(), _cpu() - c0))

    PerTurn._next = per_turn
    in_thread = registry._in_daemon_thread
    registry._in_daemon_thread = lambda fn, name: in_thread(_timed(name, fn), name)


def _dump(path: str) -> None:
    with open(path, "wb") as f:
        f.write(orjson.dumps(EVENTS))
    if CENSUS:
        with open(path + ".census.json", "wb") as f:
            f.write(orjson.dumps({"samples": CENSUS, "collected": COLLECTED}))


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    install()
    atexit.register(_dump, out)
    from agent.cli import main as cli_main

    sys.argv = ["inferwatch", *args]
    cli_main()


if __name__ == "__main__":
    main()
