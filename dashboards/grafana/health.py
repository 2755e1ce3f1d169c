"""The Agent health board: collectors, the record pipeline, the store, the Elasticsearch
shipper, alert evaluation and delivery, and the agent process itself."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana.board import BoardOptions, new_board, with_row
from dashboards.grafana.panels import HALF, QUARTER, THIRD, graph, listing
from dashboards.grafana.promql import RATE, increase, rate, series, sum_by

EACH = RATE  # not $__interval: at one sample per interval, increase() has no pair


def _per_interval(name: str, by: str, legend: str) -> tuple[str, str]:
    """Events per panel interval (errors and drops are rare: counts read better than rates)."""
    return (sum_by(by, increase(name, window=EACH)), legend)


def _collectors():
    return [
        graph(
            "Collector success",
            "1 when each collector's last run succeeded (nvml, host, vllm); 'no data' is 1 when"
            " it ran but found nothing to read (no GPU, vLLM not up yet).",
            "short",
            [
                (series("inferwatch_collector_success"), "ok {{instance}} {{collector}}"),
                (series("inferwatch_collector_no_data"), "no data {{instance}} {{collector}}"),
            ],
            span=THIRD,
            soft_max=1,
        ),
        graph(
            "Collector duration",
            "How long each collector's last run took.",
            "s",
            [(series("inferwatch_collector_duration_seconds"), "{{instance}} {{collector}}")],
            span=THIRD,
        ),
        graph(
            "Collector failures",
            "Failed or skipped collections per interval, by collector and reason (timeout, busy, error).",
            "short",
            [
                _per_interval(
                    "inferwatch_collector_failures_total",
                    "collector, reason",
                    "{{collector}} {{reason}}",
                )
            ],
            span=THIRD,
        ),
    ]


def _pipeline():
    return [
        graph(
            "Records queued",
            "Request records waiting for the background sinks (bounded; past the bound they are dropped and counted).",
            "short",
            [
                (series("inferwatch_records_queued"), "{{instance}}"),
                (series("inferwatch_store_records_pending"), "store pending {{instance}}"),
            ],
            span=THIRD,
        ),
        graph(
            "Records dropped",
            "Records dropped before a sink, per interval, by reason; records the store dropped or rejected.",
            "short",
            [
                _per_interval("inferwatch_records_dropped_total", "reason", "queue {{reason}}"),
                _per_interval(
                    "inferwatch_store_records_dropped_total", "reason", "store {{reason}}"
                ),
                _per_interval(
                    "inferwatch_store_records_rejected_total", "reason", "rejected {{reason}}"
                ),
                _per_interval(
                    "inferwatch_sink_export_failures_total", "sink", "export failed {{sink}}"
                ),
            ],
            span=THIRD,
        ),
        graph(
            "Store writes",
            "Records written to the embedded store per second, and write errors per interval.",
            "short",
            [
                (sum_by("", rate("inferwatch_store_records_written_total")), "written/s"),
                _per_interval(
                    "inferwatch_store_write_errors_total", "error_type", "error {{error_type}}"
                ),
                _per_interval("inferwatch_store_snapshot_failures_total", "", "snapshot failed"),
            ],
            span=THIRD,
        ),
        graph(
            "Store retention",
            "Records retention deleted per interval (by reason), those deleted before they were shipped, and costs lost.",
            "short",
            [
                _per_interval(
                    "inferwatch_store_retention_deleted_total", "reason", "deleted {{reason}}"
                ),
                _per_interval("inferwatch_store_unshipped_deleted_total", "", "deleted unshipped"),
                _per_interval("inferwatch_store_cost_lost_total", "reason", "cost lost {{reason}}"),
            ],
            span=HALF,
        ),
        graph(
            "Documents shipped",
            "Documents the shipper sent to Elasticsearch per second by result.",
            "short",
            [(sum_by("result", rate("inferwatch_shipper_documents_total")), "{{result}}")],
            span=HALF,
        ),
    ]


def _shipper():
    return [
        graph(
            "Shipper lag",
            "Age of the oldest record not yet in Elasticsearch.",
            "s",
            [(series("inferwatch_shipper_lag_seconds"), "{{instance}}")],
            span=THIRD,
        ),
        graph(
            "Shipper backlog",
            "Records in the store not yet shipped.",
            "short",
            [(series("inferwatch_shipper_backlog_records"), "{{instance}}")],
            span=THIRD,
        ),
        graph(
            "Shipper failures",
            "Documents that failed per interval by error type, and those set aside as dead letters.",
            "short",
            [
                _per_interval("inferwatch_shipper_failures_total", "error_type", "{{error_type}}"),
                _per_interval(
                    "inferwatch_shipper_dead_letters_total", "reason", "dead letter {{reason}}"
                ),
            ],
            span=THIRD,
        ),
    ]


def _alerts():
    return [
        graph(
            "Alerts firing",
            "Alerts the agent's own engine holds firing, by name.",
            "short",
            [(sum_by("alertname", series("inferwatch_alerts_firing")), "{{alertname}}")],
            span=THIRD,
        ),
        graph(
            "Notifications",
            "Webhook notifications per interval by receiver and result (sent, retried, dead).",
            "short",
            [
                _per_interval(
                    "inferwatch_alert_notifications_total",
                    "receiver, result",
                    "{{receiver}} {{result}}",
                )
            ],
            span=THIRD,
        ),
        graph(
            "Outbox",
            "Notifications waiting in the durable outbox, per receiver.",
            "short",
            [(sum_by("receiver", series("inferwatch_alert_outbox_pending")), "{{receiver}}")],
            span=THIRD,
        ),
        graph(
            "Evaluations",
            "Detector evaluations (drift, cost, budget) per interval by result: ok, or error when a detector could not run.",
            "short",
            [
                _per_interval(
                    "inferwatch_alert_evaluations_total",
                    "detector, result",
                    "{{detector}} {{result}}",
                )
            ],
            span=HALF,
        ),
        graph(
            "Evaluation time",
            "How long each detector's last evaluation took (drift and cost read the store or"
            " Elasticsearch).",
            "s",
            [(series("inferwatch_alert_evaluation_duration_seconds"), "{{detector}}")],
            span=HALF,
        ),
    ]


def _process():
    return [
        graph(
            "Agent memory",
            "Resident memory of the agent process.",
            "bytes",
            [(series("process_resident_memory_bytes"), "{{instance}}")],
            span=QUARTER,
        ),
        graph(
            "Agent CPU",
            "CPU seconds the agent process used per second.",
            "short",
            [(rate("process_cpu_seconds_total"), "{{instance}}")],
            span=QUARTER,
        ),
        graph(
            "Open file descriptors",
            "File descriptors the agent holds open, against its limit.",
            "short",
            [
                (series("process_open_fds"), "open {{instance}}"),
                (series("process_max_fds"), "limit {{instance}}"),
            ],
            span=QUARTER,
        ),
        graph(
            "vLLM restarts",
            "Times the agent restarted the bundled vLLM, per interval.",
            "short",
            [_per_interval("inferwatch_vllm_restarts_total", "instance", "{{instance}}")],
            span=QUARTER,
        ),
        listing(
            "Agents",
            "Every agent scraped, with its version, and how long its process has been up.",
            "s",
            [
                (series("inferwatch_build_info"), "version"),
                (f"time() - {series('process_start_time_seconds')}", "up for"),
            ],
            span=24,
        ),
    ]


def build(options: BoardOptions) -> dashboard.Dashboard:
    """The Agent health board."""
    b = new_board(
        "health",
        "Agent health",
        "Is the agent itself well: collectors, store, shipper, alert delivery and the process.",
    )
    for title, panels in (
        ("Collectors", _collectors()),
        ("Records and store", _pipeline()),
        ("Elasticsearch shipper", _shipper()),
        ("Alerts", _alerts()),
        ("Agent process", _process()),
    ):
        b = with_row(b, title, panels)
    return b
