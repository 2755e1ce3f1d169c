"""The frame every inferwatch board shares: uid and tags, the time range, the datasource
and label variables, and links to the other boards."""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)

from agent.cost.prices import DEFAULT_CURRENCY
from dashboards.grafana.panels import DATASOURCE
from dashboards.grafana.promql import RATE, increase

TAG = "inferwatch"


@dataclass(frozen=True, slots=True)
class BoardOptions:
    """What a site may change in the generated boards."""

    currency: str = DEFAULT_CURRENCY  # the agent's cost.currency: the unit of cost panels


DEFAULTS = BoardOptions()  # the committed boards


# Every label variable lists the values of one series that is always there (one per agent),
# so the lists fill before any request arrives.
ANCHOR = "inferwatch_build_info"


def label_variable(name: str, label: str, query: str, text: str):
    """A multi-value query variable over `label_values(query, label)`, "All" = `.*`."""
    return (
        dashboard.QueryVariable(name)
        .label(text)
        .datasource(DATASOURCE)
        .query(f"label_values({query}, {label})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


# Filter variables a board may offer: (label, a series that carries it, its label).
FILTER_VARS = {
    # Both from one family, so the two lists agree: the counter carrying model and tenant.
    "model": ("gen_ai_request_model", "inferwatch_requests_total", "Model"),
    "tenant": ("tenant", "inferwatch_requests_total", "Tenant"),
    "gpu": ("gpu", "inferwatch_gpu_up", "GPU"),
}


def new_board(key: str, title: str, description: str, filters: tuple[str, ...] = ()):
    """A board with uid `inferwatch-<key>` and the filter variables named in `filters`
    (model, tenant, gpu): only those whose labels its series carry."""
    b = (
        dashboard.Dashboard(f"inferwatch / {title}")
        .uid(f"inferwatch-{key}")
        .description(description)
        .tags([TAG])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .link(
            dashboard.DashboardLink("inferwatch boards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
        )
        .annotation(
            # Grafana's own annotations and alerts, which every exported board carries.
            dashboard.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .built_in(1)
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
        )
        .annotation(
            # A restart of the bundled vLLM explains a gap or a spike on every board.
            dashboard.AnnotationQuery()
            .name("vLLM restarts")
            .datasource(DATASOURCE)
            .enable(True)
            .icon_color("orange")
            .expr(f"{increase('inferwatch_vllm_restarts_total', window=RATE)} > 0")
        )
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(label_variable("job", "job", ANCHOR, "Job"))
        .with_variable(
            label_variable("instance", "instance", f'{ANCHOR}{{job=~"$job"}}', "Instance")
        )
    )
    for name in filters:
        label, source, text = FILTER_VARS[name]
        query = f'{source}{{job=~"$job",instance=~"$instance"}}'
        b = b.with_variable(label_variable(name, label, query, text))
    return b


def with_row(b: dashboard.Dashboard, title: str, panels: list) -> dashboard.Dashboard:
    """`b` with a row titled `title` holding `panels` (laid out left to right, wrapping)."""
    b = b.with_row(dashboard.Row(title))
    for p in panels:
        b = b.with_panel(p)
    return b
