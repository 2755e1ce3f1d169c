"""Tables of the scale-out simulation: one row per fleet size, each figure beside its ratio
to the smallest fleet of the same run, and the per-sidecar figures derived from them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# Series groups of one agent's page, by metric name prefix (first match wins).
REQUESTS_GROUP = (
    "requests (gen_ai_*, per tenant)",
    ("gen_ai_", "inferwatch_requests_total", "inferwatch_tokens_total", "inferwatch_tenant_"),
)
GROUPS = (
    # The per-model histograms and the per-tenant counters and histograms beside them.
    REQUESTS_GROUP,
    ("cost", ("inferwatch_cost_",)),
    ("GPUs (hw_gpu, gpu, DCGM)", ("hw_", "inferwatch_gpu_", "inferwatch_nvml_", "DCGM_")),
    ("vLLM engine", ("inferwatch_vllm_",)),
    ("safety", ("inferwatch_safety_",)),
)


@dataclass
class Step:
    """What one fleet size measured (counts are cumulative over the run where noted)."""

    agents: int
    series: float  # count({job}) in Prometheus
    head_series: float  # prometheus_tsdb_head_series (includes Prometheus' scrape series)
    samples_per_scrape: float  # sum(scrape_samples_scraped) over the fleet
    scrape_s_avg: float
    scrape_s_max: float
    page_raw: float  # mean bytes of one agent's /metrics page
    page_gzip: float
    prom_rss: int
    requests: int  # sent in this step
    es_docs: int  # cumulative, in the emulator
    es_store_bytes: int  # cumulative
    bulk_bytes: int  # cumulative, sent by the agents to _bulk
    bulk_docs: int  # cumulative
    lag_max_s: float  # max of inferwatch_shipper_lag_seconds during the step
    drain_s: float  # after the traffic stopped, until every document was in the emulator


COLUMNS = (
    ("agents", "agents", "{:.0f}"),
    ("series", "series (Prometheus)", "{:,.0f}"),
    ("head_series", "head series", "{:,.0f}"),
    ("scrape_s_avg", "scrape s (mean)", "{:.3f}"),
    ("scrape_s_max", "scrape s (max)", "{:.3f}"),
    ("page_raw", "page bytes raw", "{:,.0f}"),
    ("page_gzip", "page bytes gzip", "{:,.0f}"),
    ("prom_rss", "Prometheus RSS MiB", "{:,.0f}"),
    ("es_docs", "ES docs (cum.)", "{:,.0f}"),
    ("es_store_bytes", "emulator store MiB (cum.)", "{:.2f}"),
    ("lag_max_s", "shipper lag max s", "{:.1f}"),
    ("drain_s", "drain s", "{:.1f}"),
)
_SCALE = {"prom_rss": 2**20, "es_store_bytes": 2**20}


def _cell(step: Step, key: str, fmt: str, base: Step) -> str:
    v = getattr(step, key) / _SCALE.get(key, 1)
    b = getattr(base, key) / _SCALE.get(key, 1)
    text = fmt.format(v) if not math.isnan(v) else "n/a"
    if key != "agents" and step is not base and b and not math.isnan(v) and not math.isnan(b):
        text += f" ({v / b:.2f}x)"
    return text


def growth_table(steps: list[Step]) -> str:
    """Markdown: one row per fleet size; each figure with its ratio to the first row."""
    head = "| " + " | ".join(c[1] for c in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    rows = [
        "| " + " | ".join(_cell(s, k, f, steps[0]) for k, _, f in COLUMNS) + " |" for s in steps
    ]
    return "\n".join([head, rule, *rows])


def series_groups(page: str) -> dict[str, int]:
    """Series of one /metrics page by group (GROUPS, then `agent and process`)."""
    counts: dict[str, int] = {}
    for fam in text_string_to_metric_families(page):
        for sample in fam.samples:
            group = next((g for g, pre in GROUPS if sample.name.startswith(pre)), None)
            group = group or "agent and process"
            counts[group] = counts.get(group, 0) + 1
    return counts


def per_sidecar(steps: list[Step]) -> dict[str, float]:
    """Per-agent and per-request figures of the largest fleet (the most samples)."""
    last = steps[-1]
    docs = max(last.bulk_docs, 1)
    return {
        "series per agent": last.series / last.agents,
        "samples per scrape per agent": last.samples_per_scrape / last.agents,
        "page bytes raw": last.page_raw,
        "page bytes gzip": last.page_gzip,
        "bulk bytes per document (sent)": last.bulk_bytes / docs,
        "emulator store bytes per document": last.es_store_bytes / max(last.es_docs, 1),
        "Prometheus RSS bytes per series": last.prom_rss / max(last.head_series, 1),
    }
