/**
 * The types a generated board is checked against (dashboards/grafana/schema_check.py writes
 * each board as an object literal of type `Board`, each panel `satisfies PanelOf<"its type">`
 * or `PromPanelOf<...>`, and runs tsc).
 *
 * Dashboard, panel, field config and variable shapes are @grafana/schema's (Grafana's own,
 * generated from its CUE kinds); the Prometheus query is grafana-foundation-sdk's, generated
 * from Grafana's Prometheus dataquery schema (@grafana/schema dropped that type after 10.4).
 */
import type {
  AnnotationQuery,
  Dashboard,
  FieldConfig,
  FieldConfigSource,
  Panel,
  RowPanel,
  VariableModel,
} from '@grafana/schema';
import type * as bargauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen.js';
import type * as barchart from '@grafana/schema/dist/esm/raw/composable/barchart/panelcfg/x/BarChartPanelCfg_types.gen.js';
import type * as gauge from '@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen.js';
import type * as heatmap from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen.js';
import type * as histogram from '@grafana/schema/dist/esm/raw/composable/histogram/panelcfg/x/HistogramPanelCfg_types.gen.js';
import type * as piechart from '@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen.js';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen.js';
import type * as statetimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen.js';
import type * as statushistory from '@grafana/schema/dist/esm/raw/composable/statushistory/panelcfg/x/StatusHistoryPanelCfg_types.gen.js';
import type * as table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen.js';
import type * as text from '@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen.js';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.js';
import type * as dashlist from '@grafana/schema/dist/esm/raw/composable/dashboardlist/panelcfg/x/DashboardListPanelCfg_types.gen.js';
import type { dataquery as PromDataquery } from '@grafana/grafana-foundation-sdk/prometheus';

/**
 * JSON spells an enum member by its value ("line", not GraphDrawStyle.Line), and a string
 * enum is nominal in TypeScript: map every string enum in T to the union of its values.
 * Object types stay closed, so excess-property checks still apply.
 */
export type Json<T> = 0 extends 1 & T
  ? T
  : T extends string
    ? `${T}`
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

/** A panel whose `options` and `fieldConfig.defaults.custom` are its plugin's types. */
type PluginPanel<O, C = Record<string, unknown>> = Omit<Panel, 'options' | 'fieldConfig'> & {
  options?: O;
  fieldConfig?: Omit<FieldConfigSource, 'defaults'> & {
    defaults: Omit<FieldConfig, 'custom'> & { custom?: C };
  };
};

/** The core panel plugins @grafana/schema has generated option types for, by panel `type`. */
interface PanelKinds {
  barchart: PluginPanel<barchart.Options, barchart.FieldConfig>;
  bargauge: PluginPanel<bargauge.Options>;
  dashlist: PluginPanel<dashlist.Options>;
  gauge: PluginPanel<gauge.Options>;
  heatmap: PluginPanel<heatmap.Options, heatmap.FieldConfig>;
  histogram: PluginPanel<histogram.Options, histogram.FieldConfig>;
  piechart: PluginPanel<piechart.Options, piechart.FieldConfig>;
  stat: PluginPanel<stat.Options>;
  'state-timeline': PluginPanel<statetimeline.Options, statetimeline.FieldConfig>;
  'status-history': PluginPanel<statushistory.Options, statushistory.FieldConfig>;
  table: PluginPanel<table.Options, table.FieldConfig>;
  text: PluginPanel<text.Options>;
  timeseries: PluginPanel<timeseries.Options, timeseries.FieldConfig>;
}

/** A Prometheus target (the SDK's marker method is no JSON field). */
export type PromTarget = Omit<PromDataquery, '_implementsDataqueryVariant'>;

/** A panel type with no types here is an error, not a silent pass (legacy `graph`, typos). */
type NoPanelPluginTypesFor<K extends string> = { unknownPanelType: K };

/** A panel of plugin K. */
export type PanelOf<K extends string> = K extends keyof PanelKinds ? Json<PanelKinds[K]> : NoPanelPluginTypesFor<K>;

/** A panel of plugin K on a Prometheus datasource: its targets are Prometheus queries. */
export type PromPanelOf<K extends string> = K extends keyof PanelKinds
  ? Json<Omit<PanelKinds[K], 'targets'> & { targets?: PromTarget[] }>
  : NoPanelPluginTypesFor<K>;

/** A row (`panels` holds the row's panels while it is collapsed). */
export type Row = Json<RowPanel>;

/**
 * An interval variable also carries `auto`, `auto_min` and `auto_count` (Grafana's
 * IntervalVariableModel in @grafana/data; the schema's VariableModel leaves them out); on
 * any other variable they are noise, and reported.
 */
type Variable = VariableModel | (VariableModel & { type: 'interval'; auto?: boolean; auto_min?: string; auto_count?: number });

/** An annotation on a Prometheus datasource: its `target` is a Prometheus query. */
export type PromAnnotation = Json<AnnotationQuery<PromTarget>>;

/** A whole board, as Grafana's dashboard JSON model. */
export type Board = Json<
  Omit<Dashboard, 'templating' | 'annotations'> & {
    templating?: { list?: Variable[] };
    annotations?: { list?: Array<AnnotationQuery | AnnotationQuery<PromTarget>> };
  }
>;
