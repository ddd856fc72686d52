// The shapes the server's API returns (docs/api.md) and the contracts between the UI's parts.
// Everything here is data or an interface: no behaviour, so every module may import it.

import type { Table } from 'apache-arrow';

export type FilterType = 'select' | 'multiselect' | 'range' | 'daterange' | 'text';

export interface FilterSpec {
  id: string;
  type: FilterType;
  label: string;
  column: string;
  /** The DuckDB type of the column (VARCHAR, INTEGER, DATE, TIMESTAMP, DECIMAL(12,2), ...). */
  column_type?: string;
  default: FilterValue | null;
  /** select and multiselect: how many options the server returns by default. */
  options_limit?: number;
  /**
   * range over a continuous column: the edges of the column's fixed bins. The slider stops on
   * them (the server answers such ranges from pre-aggregates); typed values may fall between.
   */
  bins?: { edges: number[] };
}

/** A measure or dimension of a widget's encoding. `field` is the result column's name. */
export interface FieldEncoding {
  field: string;
  label?: string;
  /** Dimensions: the source column (selections name it). */
  column?: string;
  /** Date dimensions: day, week, month, quarter, year. */
  grain?: string;
  /** Measures: currency, percent, compact, number, integer (absent: plain number). */
  format?: string;
}

export interface WidgetEncoding {
  x?: FieldEncoding;
  /** Charts: a list of measures. Heatmaps and scatters: one dimension. */
  y?: FieldEncoding[] | FieldEncoding;
  color?: FieldEncoding;
  /** KPI and heatmap measure; histograms: {field: "count"}. */
  value?: FieldEncoding;
  /** KPI: the same measure over the previous period (a second result column), when configured. */
  compare?: FieldEncoding & { period?: string };
  measures?: FieldEncoding[];
  columns?: FieldEncoding[];
  bins?: number;
}

export type WidgetType =
  | 'kpi'
  | 'bar'
  | 'line'
  | 'area'
  | 'scatter'
  | 'pie'
  | 'histogram'
  | 'heatmap'
  | 'table'
  | 'text';

export interface WidgetSpec {
  id: string;
  type: WidgetType;
  title: string;
  description?: string;
  text?: string;
  layout: { width: number; height?: number };
  options: Record<string, unknown>;
  encoding?: WidgetEncoding;
  sort?: { field: string; desc: boolean };
  limit?: number;
  custom_sql?: boolean;
}

export interface PageSpec {
  id: string;
  title: string;
  widgets: WidgetSpec[];
}

export interface DashboardSpec {
  id: string;
  title: string;
  description?: string;
  dimensions: string[];
  filters: FilterSpec[];
  pages?: PageSpec[];
  widgets?: WidgetSpec[];
  /** How fresh the data it reads is (absent from servers before data versions). */
  data?: DashboardData;
}

/** GET /api/v1/dashboards/{id} → data: the freshness of the relation the dashboard reads. */
export interface DashboardData {
  /** The source (or model) the dashboard reads. */
  relation: string;
  /** "<number>-<hash>": the number grows whenever the data changes. */
  version: string;
  /** RFC 3339 UTC, or null when unknown. */
  as_of: string | null;
  /** A source it reads failed its last refresh: the data shown is older than it should be. */
  refresh_failing: boolean;
  /** The signed-in user may refresh the relation (POST /api/v1/sources/{relation}/refresh). */
  can_refresh: boolean;
}

export type RefreshOutcome = 'refreshed' | 'unchanged' | 'failed';

/** GET /api/v1/sources/{name}: a source's data version and how its refreshes went. */
export interface SourceStatus {
  name: string;
  read: 'at_load' | 'at_query_time';
  version: string;
  version_number: number;
  as_of: string | null;
  /** Only for users who may refresh the source. */
  rows?: number;
  refresh: {
    policy: Record<string, unknown> | null;
    can_refresh: boolean;
    last_check: string | null;
    last_outcome: RefreshOutcome | null;
    last_success: string | null;
    failing: boolean;
    failing_since: string | null;
    next_check: string | null;
    /** A refresh is under way. */
    running: boolean;
    /** A refresh was asked for and has not started yet. */
    requested: boolean;
    /** Why the last check failed; only for users who may refresh the source. */
    last_error?: string;
    checks?: Record<string, number>;
  };
}

/** One rule's last result on the serving data (GET /api/v1/sources). */
export interface CheckResult {
  rule: string;
  severity: 'error' | 'warn';
  passed: boolean;
  /** Rows that fail it (rules over rows), or findings (row_count, freshness, schema). */
  failing: number;
  ran_at: string | null;
  /** Only for users who may refresh the source. */
  samples?: string[];
  detail?: string;
  at?: string;
}

/** A source as the data page shows it. */
export interface SourceInfo extends SourceStatus {
  /** replace | append | ingest | redis | mqtt */
  mode?: string;
  /** Sources whose path is an s3:// or az:// URL: the object store it is read through. */
  stored_in?: { type: 's3' | 'azure'; store: string };
  checks?: CheckResult[];
  checks_failing?: { error: number; warn: number };
}

export interface DashboardSummary {
  id: string;
  title: string;
  description?: string;
}

/** How the server signs people in (docs/security.md); "token" when a bearer token called. */
export type AuthMode = 'oidc' | 'proxy' | 'none' | 'token';

export interface MeUser {
  issuer?: string;
  subject?: string;
  email?: string;
  name?: string;
  groups?: string[];
}

/** GET /api/v1/me. */
export interface Me {
  user?: MeUser;
  roles?: string[];
  auth_mode?: AuthMode;
  csrf_token?: string;
}

/** Filter values as the query body carries them (docs/api.md, "filters"). */
export type Scalar = string | number | boolean | null;
export type FilterValue =
  | Scalar
  | Scalar[]
  | [number | string | null, number | string | null]
  | { from?: string; to?: string };

/** A cross-filter pick (docs/api.md, "selections"). */
export interface Selection {
  column: string;
  values?: Scalar[];
  range?: [number | string | null, number | string | null];
  /** The widget the pick was made on: it keeps showing all its marks. */
  widget?: string;
}

export interface SortKey {
  column: string;
  desc: boolean;
}

export type Theme = 'light' | 'dark';

/** One stable color per category value, shared by every chart of the page. */
export interface ColorRegistry {
  colorFor(value: string): string;
}

/** What a widget view needs from the page around it. */
export interface WidgetContext {
  theme: Theme;
  colors: ColorRegistry;
  /** Called when the user clicks a mark or brushes a range; null clears this widget's pick. */
  onSelect(selection: Selection | null): void;
  /** This widget's own current pick, to highlight it. */
  selection?: Selection;
  /**
   * The dashboard's selectable columns (DashboardSpec.dimensions). When given, charts make no
   * picks on other columns (the server would reject them with a 400).
   */
  dimensions?: string[];
}

/**
 * A drawn widget. The page creates one per widget element, calls update() with each new
 * result, and dispose() when the element goes away. update() draws synchronously: when it
 * returns, the widget shows the new data.
 */
export interface WidgetView {
  update(data: Table, ctx: WidgetContext): void;
  resize(): void;
  dispose(): void;
}
