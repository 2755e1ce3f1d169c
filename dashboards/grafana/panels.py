"""Panel constructors: every panel gets a title, a description, a unit, the datasource
variable, and targets with reference ids, so no board can forget one of them."""

from __future__ import annotations

from grafana_foundation_sdk.builders import (
    bargauge,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import common as parts
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    ValueMap,
    ValueMappingResult,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
WIDE, HALF, THIRD, QUARTER = 24, 12, 8, 6
Target = tuple[str, str]  # (PromQL expression, legend format)


# Stat and bar gauge panels show each series' last value (Grafana's default is the mean).
def _last() -> parts.ReduceDataOptions:
    return parts.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _targets(panel, targets: list[Target], instant: bool = False):
    for i, (expr, legend) in enumerate(targets):
        q = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
        q = q.datasource(DATASOURCE)
        panel = panel.with_target(q.instant() if instant else q.range())
    return panel


def _common(panel, title: str, description: str, unit: str, span: int, height: int):
    return (
        panel.title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(span)
        .height(height)
    )


def graph(
    title: str,
    description: str,
    unit: str,
    targets: list[Target],
    *,
    span: int = HALF,
    height: int = 8,
    stack: bool = False,
    soft_max: float | None = None,
) -> timeseries.Panel:
    """A time series panel (lines; stacked areas with `stack`), legend as a table."""
    p = _common(timeseries.Panel(), title, description, unit, span, height)
    p = p.line_width(1).fill_opacity(25 if stack else 8).axis_soft_min(0).span_nulls(False)
    if soft_max is not None:
        p = p.axis_soft_max(soft_max)
    if stack:
        p = p.stacking(parts.StackingConfig().mode(common.StackingMode.NORMAL))
    legend = (
        parts.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["mean", "max", "lastNotNull"])
    )
    tooltip = parts.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
    p = p.legend(legend).tooltip(tooltip.sort(common.SortOrder.DESCENDING))
    return _targets(p, targets)


def single(
    title: str,
    description: str,
    unit: str,
    expr: str,
    *,
    span: int = QUARTER,
    height: int = 5,
    legend: str = "",
    decimals: int | None = None,
) -> stat.Panel:
    """A stat panel: the last value, over a sparkline of the range; a total over the
    dashboard's range (`$__range` in `expr`) is one instant value without a sparkline."""
    total = "$__range" in expr
    p = _common(stat.Panel(), title, description, unit, span, height)
    mode = common.BigValueGraphMode.NONE if total else common.BigValueGraphMode.AREA
    p = p.graph_mode(mode).color_mode(common.BigValueColorMode.VALUE).reduce_options(_last())
    if decimals is not None:
        p = p.decimals(decimals)
    return _targets(p, [(expr, legend)], instant=total)


def bars(
    title: str,
    description: str,
    unit: str,
    targets: list[Target],
    *,
    span: int = HALF,
    height: int = 8,
    maximum: float | None = None,
) -> bargauge.Panel:
    """Horizontal bar gauges of instant values, one per series (per GPU, per tenant)."""
    p = _common(bargauge.Panel(), title, description, unit, span, height).min(0)
    if maximum is not None:
        p = p.max(maximum)
    p = p.orientation(common.VizOrientation.HORIZONTAL).reduce_options(_last())
    return _targets(p.display_mode(common.BarGaugeDisplayMode.GRADIENT), targets, instant=True)


def distribution(
    title: str, description: str, unit: str, expr: str, *, span: int = HALF, height: int = 8
) -> heatmap.Panel:
    """A heatmap of a histogram's buckets per time step (`expr` sums by le)."""
    p = _common(heatmap.Panel(), title, description, unit, span, height)
    q = prometheus.Dataquery().expr(expr).legend_format("{{le}}").ref_id("A")
    q = q.datasource(DATASOURCE).format(PromQueryFormat.HEATMAP)
    p = p.calculate(False).y_axis(heatmap.YAxisConfig().unit(unit))
    return p.with_target(q.range())


def listing(
    title: str, description: str, unit: str, targets: list[Target], *, span: int = HALF
) -> table.Panel:
    """A table of instant values, one row per series, labels as columns."""
    p = _common(table.Panel(), title, description, unit, span, 8)
    p = p.with_transformation(
        _transformation("labelsToFields", {"mode": "columns"})
    ).with_transformation(_transformation("merge", {}))
    targets_fmt = []
    for i, (expr, legend) in enumerate(targets):
        q = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
        targets_fmt.append(q.datasource(DATASOURCE).format(PromQueryFormat.TABLE))
    for q in targets_fmt:
        p = p.with_target(q.instant())
    return p


def states(
    title: str,
    description: str,
    targets: list[Target],
    *,
    span: int = HALF,
    height: int = 8,
    on: str = "current",
) -> statetimeline.Panel:
    """A state timeline of 0/1 series (one per state): 1 shows as a band named `on`, 0 as
    nothing, so each row lights up while its state held."""
    p = _common(statetimeline.Panel(), title, description, "bool", span, height)
    shown = ValueMappingResult(text=on, color="green", index=0)
    hidden = ValueMappingResult(text=" ", color="transparent", index=1)
    p = p.mappings([ValueMap(options={"1": shown, "0": hidden})])
    p = p.show_value(common.VisibilityMode.NEVER).merge_values(True).fill_opacity(70)
    return _targets(p, targets)


def _transformation(kind: str, options: dict) -> DataTransformerConfig:
    return DataTransformerConfig(id_val=kind, options=options)
