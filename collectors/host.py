"""The host collector: CPU utilisation, memory, and the CPU time of the vLLM process tree.

A vLLM served on CPU is metered like a GPU: each tick yields a `DeviceInterval` for the
host's cores whose busy device-seconds are the CPU seconds the vLLM tree used in the tick,
and whose joules come from RAPL package counters when they are readable (else None).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

import psutil
from prometheus_client.metrics_core import Metric

from agent.catalogue import spec
from collectors.base import DeviceInterval, Snapshot
from collectors.factory import CollectorContext, register_collector
from collectors.process_tree import VllmProcessFinder
from collectors.rapl import RaplReader


@dataclass(frozen=True, slots=True)
class _Tick:
    """What the previous tick saw, the start of the next interval."""

    t_ns: int
    wall: float  # time.time(), to compare with processes' create times
    busy_s: float  # host CPU time not idle, all cores
    total_s: float
    procs: dict[tuple[int, float], float]  # (pid, create time) -> CPU seconds
    energy_j: float | None


class HostCollector:
    """Collector `host`: host CPU and memory, and the vLLM process tree's CPU time."""

    name = "host"

    def __init__(
        self,
        vllm: VllmProcessFinder | None = None,
        hostname: str | None = None,
        rapl: RaplReader | None = None,
    ) -> None:
        self._vllm = vllm or VllmProcessFinder()
        self._device_id = f"cpu:{hostname or socket.gethostname()}"
        self._rapl = rapl if rapl is not None else RaplReader()
        self._last: _Tick | None = None
        self._vllm_cpu_total = 0.0  # monotonic, although processes of the tree come and go
        # Last utilisation seen: two ticks closer together than the kernel's CPU-time
        # resolution show no change, and the gauge must not vanish for that.
        self._ratio: float | None = None
        # The vLLM root watched, and the wall time since which every process of its tree
        # was watched: one born after that had all its CPU time counted.
        self._root: tuple[int, float] | None = None
        self._since = 0.0

    def collect(self) -> Snapshot:
        """Read the host and the vLLM tree once; an interval from the second tick on."""
        tree = self._vllm.tree()
        procs = _cpu_times(tree)
        total, busy = _host_cpu_seconds()
        now = time.monotonic_ns()
        tick = _Tick(now, time.time(), busy, total, procs, self._rapl.read_joules())
        last, self._last = self._last, tick
        since = self._watched_since(tree, last, tick.wall)
        used, whole = _tree_delta(last.procs, procs, since) if last is not None else (0.0, False)
        self._vllm_cpu_total += used
        devices = () if last is None else (self._interval(last, tick, used, whole, tree),)
        fams = self._families(last, tick, tree)
        return Snapshot(self.name, now, families=tuple(fams), devices=devices)

    def _watched_since(self, tree, last: _Tick | None, wall: float) -> float:
        """Since when the tree of today's root is watched: a root born after the last tick
        since its birth (so its descendants are counted whole, even those the tree listing,
        refreshed every few seconds, finds late); one found already running since the last
        tick (what it used before is unknown)."""
        root = _key(tree[0]) if tree else None
        if root != self._root:
            self._root = root
            before = last.wall if last is not None else wall
            self._since = root[1] if root and root[1] >= before - 0.5 else before
        return self._since

    def _interval(self, last: _Tick, tick: _Tick, used: float, whole: bool, tree) -> DeviceInterval:
        joules = None
        if last.energy_j is not None and tick.energy_j is not None:
            joules = tick.energy_j - last.energy_j
        return DeviceInterval(
            device_id=self._device_id,
            device_type="cpu-core",
            start_ns=last.t_ns,
            end_ns=tick.t_ns,
            busy_device_seconds=used,
            wall_seconds=(tick.t_ns - last.t_ns) / 1e9,
            joules=joules,
            units=float(_cores_available(tree)),
            metered=whole,
        )

    def _families(self, last: _Tick | None, tick: _Tick, tree) -> list[Metric]:
        fams: list[Metric] = []
        if last is not None and tick.total_s > last.total_s:
            self._ratio = (tick.busy_s - last.busy_s) / (tick.total_s - last.total_s)
        if self._ratio is not None:
            fams.append(_single("system_cpu_utilization_ratio", self._ratio))
        fams.append(_single("inferwatch_host_logical_cpus", psutil.cpu_count() or 0))
        fams.extend(_memory_families())
        fams.extend(self._vllm_families(tree))
        if tick.energy_j is not None:
            fams.append(
                _single("inferwatch_host_energy_consumed_joules_total", self._rapl.total_joules)
            )
        return fams

    def _vllm_families(self, tree) -> list[Metric]:
        return [
            _single("inferwatch_vllm_tree_cpu_seconds_total", self._vllm_cpu_total),
            _single("inferwatch_vllm_tree_resident_memory_bytes", _rss(tree)),
            _single("inferwatch_vllm_tree_processes", len(tree)),
        ]


@register_collector("host", True, "host CPU and memory, and the vLLM process tree's CPU time")
def _build(ctx: CollectorContext) -> HostCollector:
    return HostCollector(ctx.vllm, hostname=ctx.config.hostname)


def _host_cpu_seconds() -> tuple[float, float]:
    """(total, not idle) CPU seconds of the host since boot, all cores."""
    cpu = psutil.cpu_times()
    # Linux counts guest time inside user time already: leave it out of the sum.
    total = sum(cpu) - getattr(cpu, "guest", 0.0) - getattr(cpu, "guest_nice", 0.0)
    return total, total - cpu.idle - getattr(cpu, "iowait", 0.0)


def _single(name: str, value: float) -> Metric:
    """The family `name` of the catalogue with its one unlabelled sample."""
    fam = spec(name).family()
    fam.add_metric([], value)
    return fam


def _memory_families() -> list[Metric]:
    vm = psutil.virtual_memory()
    usage = spec("system_memory_usage_bytes").family()
    for state in ("used", "free", "cached", "buffers"):
        usage.add_metric([state], float(getattr(vm, state, 0)))
    return [usage, _single("system_memory_limit_bytes", vm.total)]


def _cpu_times(tree: list[psutil.Process]) -> dict[tuple[int, float], float]:
    out = {}
    for p in tree:
        try:
            with p.oneshot():
                t = p.cpu_times()
                out[(p.pid, p.create_time())] = t.user + t.system
        except psutil.Error:
            continue  # exited between listing and reading
    return out


def _key(p: psutil.Process) -> tuple[int, float] | None:
    try:
        return p.pid, p.create_time()
    except psutil.Error:
        return None


def _tree_delta(before: dict, now: dict, since_wall: float) -> tuple[float, bool]:
    """CPU seconds the tree used since the last tick, and whether that is all of it. A process
    new to the tree counts all its time if it started since `since_wall` (when watching
    began); one that existed unwatched (the tree was just found) starts its count now, so
    the interval is not whole; nor is it with no tree at all (vLLM not found, or gone:
    what it used since the last tick is unknown)."""
    used, whole = 0.0, bool(now)
    for key, t in now.items():
        if key in before:
            used += max(0.0, t - before[key])
        elif key[1] >= since_wall - 0.5:  # create_time resolution is coarse (clock ticks)
            used += t
        else:
            whole = False
    return used, whole


def _rss(tree: list[psutil.Process]) -> float:
    total = 0
    for p in tree:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return float(total)


def _cores_available(tree: list[psutil.Process]) -> int:
    """Cores the vLLM server may run on (its CPU affinity), else the host's."""
    try:
        if tree:
            return len(tree[0].cpu_affinity()) or 1
        return len(os.sched_getaffinity(0))
    except (psutil.Error, AttributeError, OSError):
        return os.cpu_count() or 1
