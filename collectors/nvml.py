"""The NVML collector: every NVIDIA GPU of the host, through `nvidia-ml-py` (`pynvml`).

No library or no driver means "no data here", not a failure: the agent runs on, and
initialisation is retried now and then. A field a GPU does not support is counted once and
not asked again; a GPU that errors (fallen off the bus) is reported down and the others are
still read. Each tick also yields a `DeviceInterval` per GPU for the cost engine: busy
GPU-seconds (utilisation x wall time) and joules (from the energy counter where there is
one, else power x time).
"""

from __future__ import annotations

import ctypes
import logging
import socket
import time
from collections import defaultdict
from dataclasses import dataclass

import pynvml

from collectors.base import DeviceInterval, Snapshot
from collectors.factory import CollectorContext, register_collector
from collectors.nvml_dcgm import dcgm_families
from collectors.nvml_families import GpuCounters, gpu_families
from collectors.nvml_fields import (
    GpuInfo,
    GpuReading,
    error_name,
    read_gpu,
    read_info,
    read_process_sm,
)
from collectors.process_tree import VllmProcessFinder

log = logging.getLogger("inferwatch.collectors.nvml")

_RETRY_INIT_S = 60.0  # a driver rarely appears at run time: retry, but not every tick
_MAX_EVENTS_PER_TICK = 256  # bound the event drain even if the driver floods us


@dataclass(frozen=True, slots=True)
class _Last:
    """A GPU's previous reading, the start of its next interval."""

    t_ns: int
    energy_j: float | None
    power_w: float | None


class NvmlCollector:
    """Collector `nvml`: per-GPU utilisation, memory, power, energy, temperature, clocks,
    clock event reasons, XID errors and per-process memory."""

    name = "nvml"

    def __init__(
        self,
        *,
        dcgm_compat: bool = False,
        hostname: str | None = None,
        library: str | None = None,
        vllm: VllmProcessFinder | None = None,
    ) -> None:
        self._dcgm = dcgm_compat
        self._hostname = hostname or socket.gethostname()
        self._library = library
        self._vllm = vllm
        self._gpus: list[GpuInfo] | None = None
        self._retry_at = 0.0
        self._told = False
        self._events = None
        self._by_handle: dict[int | None, int] = {}
        self._unsupported: dict[int, set[str]] = defaultdict(set)
        self._last: dict[str, _Last] = {}
        self._xids: dict[tuple[int, int], int] = defaultdict(int)
        self._last_xid: dict[int, int] = {}
        self._errors: dict[tuple[str, str, str], int] = defaultdict(int)
        self._sm_seen: dict[int, int] = defaultdict(int)  # gpu -> newest process sample (us)

    def collect(self) -> Snapshot:
        """Read every GPU once; `no_data` when there is no NVML or no GPU."""
        if not self._ensure_init() or not self._gpus:
            return Snapshot(self.name, time.monotonic_ns(), no_data=True)
        readings = [self._read(g) for g in self._gpus]
        self._drain_xids()
        now = time.monotonic_ns()
        has_procs = any(r.processes for r in readings)
        vllm = self._vllm.pids() if self._vllm is not None and has_procs else frozenset()
        return Snapshot(
            self.name,
            now,
            families=tuple(self._families(readings, vllm)),
            devices=tuple(self._intervals(readings, now, vllm)),
        )

    def close(self) -> None:
        """Release NVML (the library stays loaded, as pynvml does)."""
        if self._gpus is not None:
            self._gpus = None
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError as err:
                log.debug("nvmlShutdown: %s", err)

    # -- initialisation ----------------------------------------------------------------------

    def _ensure_init(self) -> bool:
        if self._gpus is not None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        self._retry_at = time.monotonic() + _RETRY_INIT_S
        try:
            if self._library:
                # Loaded under its soname, so pynvml's own CDLL("libnvidia-ml.so.1") finds it.
                ctypes.CDLL(self._library, mode=ctypes.RTLD_GLOBAL)
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except (OSError, pynvml.NVMLError) as err:
            # Said once: on a CPU-only host this is the normal case, not news every minute.
            log.log(logging.DEBUG if self._told else logging.INFO, "no NVIDIA GPU (%s)", err)
            self._told = True
            return False
        self._gpus = [g for g in (self._identify(i) for i in range(count)) if g is not None]
        self._by_handle = {_address(g.handle): g.index for g in self._gpus}
        self._register_events()
        return True

    def _identify(self, index: int) -> GpuInfo | None:
        try:
            return read_info(index)
        except pynvml.NVMLError as err:
            self._errors[(str(index), "identity", error_name(err))] += 1
            log.warning("GPU %d cannot be identified, skipped: %s", index, err)
            return None

    def _register_events(self) -> None:
        try:
            self._events = pynvml.nvmlEventSetCreate()
        except pynvml.NVMLError as err:
            self._errors[("all", "xid_events", error_name(err))] += 1
            return
        for g in self._gpus or ():
            try:
                pynvml.nvmlDeviceRegisterEvents(
                    g.handle, pynvml.nvmlEventTypeXidCriticalError, self._events
                )
            except pynvml.NVMLError as err:
                self._errors[(str(g.index), "xid_events", error_name(err))] += 1

    # -- one tick ----------------------------------------------------------------------------

    def _read(self, gpu: GpuInfo) -> GpuReading:
        reading = read_gpu(gpu, self._unsupported[gpu.index])
        if reading.up and len(reading.processes or ()) > 1:
            self._read_shares(gpu, reading)  # a shared GPU: whose work was it?
        for field, err in reading.errors:
            self._errors[(str(gpu.index), field, err)] += 1
            if err == "not_supported":
                self._unsupported[gpu.index].add(field)  # counted once, not asked again
        return reading

    def _read_shares(self, gpu: GpuInfo, reading: GpuReading) -> None:
        if "process_utilization" in self._unsupported[gpu.index]:
            return
        try:
            reading.process_sm, self._sm_seen[gpu.index] = read_process_sm(
                gpu, self._sm_seen[gpu.index]
            )
        except pynvml.NVMLError as err:
            reading.errors.append(("process_utilization", error_name(err)))

    def _drain_xids(self) -> None:
        if self._events is None:
            return
        for _ in range(_MAX_EVENTS_PER_TICK):
            try:
                event = pynvml.nvmlEventSetWait(self._events, 0)
            except pynvml.NVMLError_Timeout:
                return
            except pynvml.NVMLError as err:
                self._errors[("all", "xid_events", error_name(err))] += 1
                return
            index = self._by_handle.get(_address(event.device))
            if index is not None and event.eventType & pynvml.nvmlEventTypeXidCriticalError:
                self._xids[(index, int(event.eventData))] += 1
                self._last_xid[index] = int(event.eventData)

    def _families(self, readings: list[GpuReading], vllm_pids: frozenset[int]) -> list:
        counters = GpuCounters(self._xids, self._last_xid, self._errors, vllm_pids)
        fams = gpu_families(readings, counters)
        if self._dcgm:
            fams.extend(dcgm_families(readings, self._last_xid, self._hostname))
        return fams

    def _intervals(
        self, readings: list[GpuReading], now: int, vllm_pids: frozenset[int]
    ) -> list[DeviceInterval]:
        out = []
        for r in readings:
            uuid = r.info.uuid
            last = self._last.pop(uuid, None)
            if not r.up:
                continue  # a lost GPU meters nothing; its next interval starts when it is back
            self._last[uuid] = _Last(now, r.energy_j, r.power_w)
            if last is not None and now > last.t_ns:
                out.append(_interval(r, last, now, vllm_pids))
        return out


@register_collector("nvml", True, "NVIDIA GPUs through NVML")
def _build(ctx: CollectorContext) -> NvmlCollector:
    cfg = ctx.config
    return NvmlCollector(
        dcgm_compat=cfg.dcgm_compat, hostname=cfg.hostname, library=cfg.nvml_library, vllm=ctx.vllm
    )


def _interval(r: GpuReading, last: _Last, now: int, vllm_pids: frozenset[int]) -> DeviceInterval:
    wall = (now - last.t_ns) / 1e9
    return DeviceInterval(
        device_id=f"gpu:{r.info.uuid}",
        device_type=r.info.name,
        start_ns=last.t_ns,
        end_ns=now,
        busy_device_seconds=(r.util_gpu or 0.0) * _vllm_share(r, vllm_pids) * wall,
        wall_seconds=wall,
        joules=_joules(r, last, wall),
        units=1.0,
    )


def _vllm_share(r: GpuReading, vllm_pids: frozenset[int]) -> float:
    """vLLM's part of the GPU's work when it shares the GPU with other processes (from
    per-process SM utilisation); the whole GPU when that cannot be told."""
    if not r.process_sm or not vllm_pids:
        return 1.0
    total = sum(r.process_sm.values())
    if total <= 0:
        return 1.0
    return sum(u for pid, u in r.process_sm.items() if pid in vllm_pids) / total


def _joules(r: GpuReading, last: _Last, wall: float) -> float | None:
    """Energy counter delta where there is one; else mean power x time; else unknown."""
    if r.energy_j is not None and last.energy_j is not None and r.energy_j >= last.energy_j:
        return r.energy_j - last.energy_j
    powers = [p for p in (last.power_w, r.power_w) if p is not None]
    return sum(powers) / len(powers) * wall if powers else None


def _address(handle) -> int | None:
    """A device handle's address: event data names the device by the same pointer."""
    return ctypes.cast(handle, ctypes.c_void_p).value
