"""The GPUs board: per GPU utilisation, memory, power, energy, temperature, clocks and
throttle reasons, XID errors and the memory of vLLM's processes; and the host, which
carries the cost on a machine without GPUs. Names follow OpenTelemetry's hw.gpu.*
conventions (dcgm-exporter's DCGM_FI_* copies exist only with collectors.dcgm_compat)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana.board import BoardOptions, new_board, with_row
from dashboards.grafana.panels import QUARTER, THIRD, WIDE, bars, graph, single
from dashboards.grafana.promql import RATE, increase, rate, ratio, series, sum_by

GPU = "{{gpu}} {{hw_model}}"


def _overview():
    return [
        single(
            "GPUs up",
            "GPUs the agent could read on its last collection, of those selected.",
            "short",
            sum_by("", series("inferwatch_gpu_up")),
        ),
        single(
            "Mean utilisation",
            "Mean share of time a kernel ran, over the selected GPUs.",
            "percentunit",
            f"avg({series('hw_gpu_utilization_ratio')})",
        ),
        single(
            "Power draw",
            "Power drawn by the selected GPUs together.",
            "watt",
            sum_by("", series("hw_gpu_power_draw_watts")),
        ),
        single(
            "XID errors",
            "XID errors the selected GPUs reported over the time range (any is worth a look: see NVIDIA's XID catalogue).",
            "short",
            sum_by("", increase("hw_errors_total", 'error_type=~"xid.*"')),
        ),
    ]


def _use():
    used, limit = series("hw_gpu_memory_usage_bytes"), series("hw_gpu_memory_limit_bytes")
    return [
        graph(
            "Utilisation",
            "Share of time one or more kernels ran on each GPU.",
            "percentunit",
            [(series("hw_gpu_utilization_ratio"), GPU)],
            soft_max=1,
        ),
        graph(
            "Memory controller utilisation",
            "Share of time device memory was read or written, per GPU.",
            "percentunit",
            [(series("inferwatch_gpu_memory_controller_utilization_ratio"), GPU)],
            soft_max=1,
        ),
        graph(
            "Memory used",
            "Device memory in use and free per GPU, against its size.",
            "bytes",
            [
                (used, f"used {GPU}"),
                (series("inferwatch_gpu_memory_free_bytes"), f"free {GPU}"),
                (limit, f"size {GPU}"),
            ],
        ),
        bars(
            "Memory used share",
            "Share of each GPU's memory in use now.",
            "percentunit",
            [(ratio(used, limit), GPU)],
            maximum=1,
        ),
    ]


def _power():
    return [
        graph(
            "Power draw",
            "Power drawn by each GPU.",
            "watt",
            [(series("hw_gpu_power_draw_watts"), GPU)],
        ),
        graph(
            "Energy per second",
            "Energy each GPU consumed per second, from its energy counter (the cost engine meters this).",
            "watt",
            [(rate("hw_gpu_energy_consumed_joules_total"), GPU)],
        ),
        graph(
            "Temperature",
            "Core temperature of each GPU.",
            "celsius",
            [(series("hw_gpu_temperature_celsius"), GPU)],
            span=THIRD,
        ),
        graph(
            "Clocks",
            "SM and memory clocks of each GPU.",
            "rothz",
            [(series("inferwatch_gpu_clock_hertz"), "{{gpu}} {{clock}}")],
            span=THIRD,
        ),
        graph(
            "Throttle reasons",
            "Clock event reasons active on each GPU (1: active): power cap, thermal slowdown, idle, ...",
            "short",
            [(f"{series('inferwatch_gpu_clock_event_reason')} > 0", "{{gpu}} {{reason}}")],
            span=THIRD,
            stack=True,
        ),
    ]


def _errors_and_processes():
    return [
        graph(
            "XID and other GPU errors",
            "Errors per interval by type, per GPU.",
            "short",
            [
                (
                    sum_by("gpu, error_type", increase("hw_errors_total", window=RATE)),
                    "{{gpu}} {{error_type}}",
                )
            ],
            span=THIRD,
        ),
        graph(
            "NVML read errors",
            "Failed NVML reads per interval by field and error (a field a GPU does not support shows here once per read).",
            "short",
            [
                (
                    sum_by(
                        "gpu, field, error",
                        increase("inferwatch_nvml_errors_total", window=RATE),
                    ),
                    "{{gpu}} {{field}} {{error}}",
                )
            ],
            span=THIRD,
        ),
        graph(
            "Process memory",
            'Device memory used by each process on each GPU; vllm="true" marks vLLM\'s own processes.',
            "bytes",
            [
                (
                    series("inferwatch_gpu_process_memory_usage_bytes"),
                    "{{gpu}} pid {{pid}} vllm={{vllm}}",
                )
            ],
            span=THIRD,
        ),
        graph(
            "Process utilisation",
            "Share of each GPU's time each process used (NVML's per-process samples).",
            "percentunit",
            [
                (
                    series("inferwatch_gpu_process_utilization_ratio"),
                    "{{gpu}} pid {{pid}} vllm={{vllm}}",
                )
            ],
            span=WIDE,
        ),
    ]


def _host():
    return [
        graph(
            "Host CPU utilisation",
            "Share of all CPUs busy on the agent's host (where vLLM runs on CPUs, this carries the cost).",
            "percentunit",
            [(series("system_cpu_utilization_ratio"), "{{instance}}")],
            span=QUARTER,
        ),
        graph(
            "vLLM process tree CPU",
            "CPUs used by vLLM's process tree (seconds of CPU per second), against the"
            " host's logical CPUs, and the number of processes in the tree.",
            "short",
            [
                (rate("inferwatch_vllm_tree_cpu_seconds_total"), "CPUs used {{instance}}"),
                (series("inferwatch_host_logical_cpus"), "CPUs {{instance}}"),
                (series("inferwatch_vllm_tree_processes"), "processes {{instance}}"),
            ],
            span=QUARTER,
        ),
        graph(
            "vLLM process tree memory",
            "Resident memory of vLLM's process tree, against the host's memory by state.",
            "bytes",
            [
                (series("inferwatch_vllm_tree_resident_memory_bytes"), "vLLM {{instance}}"),
                (series("system_memory_usage_bytes"), "host {{system_memory_state}}"),
                (series("system_memory_limit_bytes"), "host total {{instance}}"),
            ],
            span=QUARTER,
        ),
        graph(
            "Host energy per second",
            "Power of the host's CPU packages from RAPL (absent where RAPL is not readable, as in most containers).",
            "watt",
            [(rate("inferwatch_host_energy_consumed_joules_total"), "{{instance}}")],
            span=QUARTER,
        ),
    ]


def build(options: BoardOptions) -> dashboard.Dashboard:
    """The GPUs board."""
    b = new_board(
        "gpus",
        "GPUs",
        "The hardware under the served model: every GPU through NVML, and the host.",
        ("gpu",),
    )
    for title, panels in (
        ("Overview", _overview()),
        ("Utilisation and memory", _use()),
        ("Power, temperature and clocks", _power()),
        ("Errors and processes", _errors_and_processes()),
        ("Host", _host()),
    ):
        b = with_row(b, title, panels)
    return b
