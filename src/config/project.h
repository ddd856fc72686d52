// The typed project model: what sightline.yaml and the dashboard files say, validated.
//
//   auto loaded = load_project("examples/sales", SystemEnvironment());
//   for (auto& d : loaded.diagnostics) std::cerr << format_diagnostic(d) << "\n";
//   if (loaded.project) serve(*loaded.project);
//
// Everything here is plain data: immutable once loaded, safe to share between threads.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace sightline::config {

// Where something was written: file (relative to the project directory), 1-based line/column.
struct Position {
  std::string file;
  int line = 0;
  int column = 0;
};

struct Diagnostic {
  enum class Severity { Error, Warning };
  Severity severity = Severity::Error;
  Position pos;
  std::string message;
  std::string hint;
};
// "dashboards/sales.yaml:12:7: error: unknown column 'regoin'\n  hint: did you mean 'region'?"
std::string format_diagnostic(const Diagnostic& d);

// Levenshtein distance, for "did you mean" hints.
size_t edit_distance(std::string_view a, std::string_view b);

struct CsvOptions {
  std::optional<std::string> delimiter;
  std::optional<bool> header;
  std::optional<std::string> quote;
  std::optional<std::string> escape;
  std::optional<int64_t> skip;
  std::optional<std::string> null_string;
  std::optional<std::string> date_format;
  std::optional<std::string> timestamp_format;
};

enum class SourceFormat { Parquet, Csv, Json, DuckDB };

// When a source's data is read again (docs/freshness.md). Any trigger may fire: a fixed period,
// a cron schedule in the project's time zone, a change of its files (once they have stayed
// unchanged for `debounce_ms`), or a person with one of `roles` asking
// (POST /api/v1/sources/{name}/refresh). A refresh that finds the files unchanged changes nothing.
struct RefreshSpec {
  std::optional<int64_t> every_ms;
  std::string cron;  // five-field expression or macro (core/cron.h); empty: none
  bool on_change = false;
  int64_t debounce_ms = 2000;
  // Object storage has no change notification: with on_change, the objects are listed this often.
  int64_t poll_ms = 60'000;
  bool poll_set = false;  // written in the YAML (only object storage sources may)
  std::vector<std::string> roles;  // may refresh by hand (with auth none: everyone may)
  Position pos;
  bool any_schedule() const { return every_ms || !cron.empty() || on_change; }
};

// A data check (`checks:` of a source): a rule the source's data must satisfy
// each time it is read (engine/data_checks.h runs them). A failing `error` rule keeps the last
// good version serving (at the first start, with none, the data serves and the failure is
// reported); a `warn` rule is only reported. Default severity: error for not_null, unique and
// schema (the data is wrong or unreadable for what reads it), warn for the others (accepted
// values, ranges, patterns, counts and freshness drift with the business; they inform first).
enum class CheckKind { NotNull, Unique, AcceptedValues, Range, Regex, RowCount, Freshness, Schema };
enum class CheckSeverity { Warn, Error };
// schema: what columns beyond the expected ones do. Default warn: reported, never blocking.
enum class ExtraColumns { Allow, Warn, Error };

struct CheckSpec {
  CheckKind kind = CheckKind::NotNull;
  CheckSeverity severity = CheckSeverity::Error;
  std::string text;                  // the rule as reports name it: "not_null: order_id", "unique: [a, b]", "row_count"
  std::vector<std::string> columns;  // the column(s) it reads (none: row_count, schema)
  std::vector<Position> column_pos;  // where each was written
  std::vector<std::string> values;   // accepted_values, as written (compared in the column's type)
  std::vector<Position> value_pos;
  std::optional<std::string> min, max;  // range bounds, as written (compared in the column's type)
  Position min_pos, max_pos;
  std::string pattern;  // regex: RE2, matched against the whole value's text
  Position pattern_pos;
  std::optional<int64_t> min_rows, max_rows;
  std::optional<double> max_change;                         // row_count: at most this fraction up or down against the previous version
  int64_t max_age_ms = 0;                                   // freshness
  std::vector<std::pair<std::string, std::string>> schema;  // expected column -> SQL type, in the order written
  std::vector<Position> schema_pos;                         // where each column's type was written
  ExtraColumns extra = ExtraColumns::Warn;
  Position pos;
};

// How a source's data is kept (docs/freshness.md, "Append mode").
//   Replace: read whole at load (materialized) or at query time; a refresh reads it all again.
//   Append:  its rows are kept in the engine's state file with a ledger of the files (or received
//            batches) they came from; a refresh reads only new files, and a changed or removed
//            file replaces exactly its rows. A source with `ingest:` is always Append.
enum class SourceMode { Replace, Append };

// `ingest: { roles: [...] }`: the source receives rows over HTTP (POST /api/v1/sources/{name}/rows)
// instead of reading files; its `columns:` are the schema every batch is checked against.
struct IngestSpec {
  std::vector<std::string> roles;  // may send rows (with auth none: everyone may)
  Position pos;
};

// `redis: { url: ..., stream: clicks, group: sightline, batch: 1000 }`: the source reads the
// entries of a Redis stream (a consumer group's, acknowledged once appended); each entry's fields
// are the source's `columns:` (cli/stream_reader.h).
struct RedisSpec {
  std::string url;               // redis://[:password@]host[:port][/db]; may come from ${env:} or ${file:}
  std::string stream;            // the stream's key
  std::string group = "sightline";
  int64_t batch = 1000;          // entries read (and appended) at most at once
  Position pos;
};

// `mqtt: { url: ..., topic: sensors/+/reading, client_id: ..., batch: 1000 }`: the source reads
// the messages of an MQTT topic filter (QoS 1, a session the broker keeps), acknowledged once
// appended; each message is a JSON object whose fields are the source's `columns:`
// (cli/stream_reader.h).
struct MqttSpec {
  std::string url;            // mqtt://[user[:password]@]host[:port]; may come from ${env:} or ${file:}
  std::string topic;          // a topic filter (+ and # wildcards allowed)
  std::string client_id;      // the session's name at the broker; default sightline-<project>-<source>
  int64_t batch = 1000;       // messages appended at most at once (and unacknowledged at most)
  int64_t session_expiry_s = 7 * 86'400;  // how long the broker keeps queueing while the server is away
  std::string topic_column;   // a declared VARCHAR column that receives each message's topic; empty: none
  Position pos;
};

// `object_stores:` in sightline.yaml: where sources with an s3:// or az:// path are listed and
// fetched from (storage/object_store.h). Secrets come from ${env:}/${file:}.
enum class ObjectStoreKind { S3, Azure };
struct ObjectStoreSpec {
  std::string name;
  ObjectStoreKind kind = ObjectStoreKind::S3;
  std::string endpoint;  // scheme://host[:port][/path]; empty: the service's own (AWS or Azure)
  // S3
  std::string region = "us-east-1";
  std::string access_key_id, secret_access_key, session_token;  // none: anonymous requests
  bool path_style = false;  // bucket in the path (https://host/bucket/key), not the host name
  // Azure Blob
  std::string account;
  std::string account_key;  // shared key (base64), or
  std::string sas;          // a SAS token (query string without '?')
  std::string ca_file;                   // absolute; empty: the system's certificate authorities
  int64_t max_cache_bytes = 64LL << 30;  // the local copies of one source's objects at most
  int parallel = 4;                      // objects fetched at once
  Position pos;
};

// Where a source's data lives when its path is an object URL: s3://bucket/key-pattern or
// az://container/key-pattern, read through the named store.
struct ObjectSource {
  std::string store;      // an ObjectStoreSpec's name
  std::string container;  // the S3 bucket or Azure container
  std::string pattern;    // the key pattern: * ? [..] within a path component, ** across them
};

struct SourceSpec {
  std::string name;
  std::string path;  // as written (relative to the project directory, may hold globs)
  SourceFormat format = SourceFormat::Parquet;
  std::optional<bool> hive_partitioning;  // default: DuckDB's auto-detection
  bool union_by_name = false;             // files whose columns differ: match by name
  bool materialize = false;               // load into memory at start instead of scanning files
  std::vector<std::string> order_by;      // materialized: stored in this order (date filters then skip row groups)
  CsvOptions csv;
  std::map<std::string, std::string> types;  // column -> SQL type overrides
  std::string table;                         // DuckDB files: the table (or view) to read
  std::optional<RefreshSpec> refresh;        // none: read at start (and when the project changes)
  std::vector<CheckSpec> checks;             // run whenever the data is read (not part of the engine's recipe)
  SourceMode mode = SourceMode::Replace;
  std::optional<IngestSpec> ingest;          // rows arrive over HTTP; then `path` is empty
  std::vector<std::pair<std::string, std::string>> columns;  // ingest: the schema (name, SQL type), in order
  std::optional<int64_t> keep_ms;            // append: rows that arrived longer ago than this are dropped
  std::optional<RedisSpec> redis;            // rows arrive from a Redis stream; then `path` is empty
  std::optional<MqttSpec> mqtt;              // rows arrive from an MQTT topic; then `path` is empty
  std::optional<ObjectSource> object;        // `path` is an s3:// or az:// URL
  // Where the files are read from when that is not `path`: the local copy of an object source's
  // objects (absolute, with the key pattern), set by whoever fetched them (cli) before the
  // engine is built. Messages keep naming `path`.
  std::string local_files;
  Position pos;
  const std::string& files() const { return local_files.empty() ? path : local_files; }
  bool appends() const { return mode == SourceMode::Append; }
  // Rows come to it (over HTTP or from a stream) rather than from files of the project: they are
  // kept as batch files in the state directory, checked against `columns`.
  bool receives_rows() const { return ingest.has_value() || redis.has_value() || mqtt.has_value(); }
  // What rows are received from, for messages: "ingest", "redis" or "mqtt" (empty: files).
  const char* receiver_key() const { return ingest ? "ingest" : redis ? "redis" : mqtt ? "mqtt" : ""; }
};

struct ModelSpec {
  std::string name;
  std::string sql;
  bool materialize = false;
  Position pos;
};

enum class FilterType { Select, MultiSelect, Range, DateRange, Text };
const char* filter_type_name(FilterType t);

struct FilterSpec {
  std::string id;
  FilterType type = FilterType::Select;
  std::string column;
  std::string label;
  nlohmann::json default_value;  // null: no default
  int64_t options_limit = 100;   // select/multiselect: how many options a lookup returns at most
  Position pos;
};

enum class WidgetType { Kpi, Bar, Line, Area, Scatter, Pie, Histogram, Heatmap, Table, Text };
const char* widget_type_name(WidgetType t);
bool is_chart(WidgetType t);

// A measure: an aggregate SQL expression written by the project author, e.g. sum(revenue).
struct MeasureSpec {
  std::string expr;
  std::string name;    // result column name; derived from expr when not given
  std::string label;   // for humans
  std::string format;  // number | currency | percent | compact | ...
  Position pos;
  // The author accepts an approximate distinct count (a HyperLogLog, ~1.6 % error) where rows are
  // read; pre-aggregates still answer exactly. Labelled with "≈" for viewers.
  bool approx = false;
};

// A dimension: a column, optionally truncated to a time grain.
struct DimensionSpec {
  std::string column;
  std::string grain;  // "", day, week, month, quarter, year
  std::string name;   // result column name (the column's name unless given)
  std::string label;
  Position pos;
};

struct SortSpec {
  std::string column;  // a result column name
  bool descending = false;
};

struct WidgetSpec {
  std::string id;
  WidgetType type = WidgetType::Kpi;
  std::string title;
  std::string description;
  int width = 6;                       // of 12 grid columns
  int height = 0;                      // 0: the UI's default for the type
  std::string source;                  // defaults to the dashboard's source
  std::optional<DimensionSpec> x;      // charts: category/time axis; scatter: a numeric column
  std::optional<DimensionSpec> y_dim;  // heatmap: second dimension; scatter: y column
  std::optional<DimensionSpec> color;  // series split
  std::vector<MeasureSpec> measures;   // kpi: one; charts: y values; heatmap: the cell value
  std::vector<DimensionSpec> columns;  // table
  std::optional<SortSpec> sort;
  int64_t limit = 0;  // 0: none beyond the server's row cap
  int bins = 20;      // histogram
  std::string sql;    // own SQL with {{ filters }} placeholder(s)
  std::string text;   // text widget (markdown)
  // kpi: the daterange filter whose previous period the value is compared with (empty: none).
  // The result then has a second column, `<measure>_previous`.
  std::string compare_filter;
  nlohmann::json options = nlohmann::json::object();  // presentation only, passed to the UI
  std::vector<std::string> roles;                     // roles that see the widget (empty: whoever sees the page)
  Position pos;
};

struct PageSpec {
  std::string id;
  std::string title;
  std::vector<WidgetSpec> widgets;
  std::vector<std::string> roles;  // roles that see the page (empty: whoever sees the dashboard)
};

struct DashboardSpec {
  std::string id;  // from the file name: dashboards/sales.yaml -> sales
  std::string title;
  std::string description;
  std::string source;
  std::vector<std::string> dimensions;  // columns cross-filter selections may use
  std::vector<FilterSpec> filters;
  std::vector<PageSpec> pages;     // a dashboard without pages has one untitled page
  std::vector<std::string> roles;  // roles that see the dashboard (empty: every signed-in user)
  std::string file;
  Position pos;

  const WidgetSpec* find_widget(std::string_view id) const;
  const FilterSpec* find_filter(std::string_view id) const;
};

struct EngineSpec {
  int threads = 0;           // 0: all cores
  std::string memory_limit;  // empty: DuckDB's default
  std::string max_spill;     // the most a query may write to spill files, e.g. 20GB; empty: 90% of the free disk
  int64_t query_timeout_ms = 30'000;
  int64_t max_rows = 100'000;  // per response
  // Downloads (a request whose `limit` is above max_rows): at most this many rows, each run for
  // at most export_timeout_ms (the rows are written to a spool file, then sent).
  int64_t max_export_rows = 10'000'000;
  int64_t export_timeout_ms = 300'000;
  int pool_size = 0;           // connections; 0: 2 x threads (at least 4)
};

enum class AuthMode { None, Oidc, Proxy };
const char* auth_mode_name(AuthMode m);

struct OidcSpec {
  std::string issuer;
  std::string client_id;
  std::string client_secret;  // empty: a public client (PKCE only)
  std::vector<std::string> scopes{"openid", "profile", "email"};
  std::string email_claim = "email";
  std::string name_claim = "name";
  std::string groups_claim = "groups";
};

struct ProxySpec {
  std::vector<std::string> trusted_proxies;      // addresses or CIDR blocks, validated by the loader
  std::string user_header = "x-forwarded-user";  // header names lower-cased
  std::string email_header = "x-forwarded-email";
  std::string name_header = "x-forwarded-preferred-username";
  std::string groups_header = "x-forwarded-groups";
};

// Who may sign in and how (`auth:` in sightline.yaml).
struct AuthSpec {
  AuthMode mode = AuthMode::None;
  std::string public_url;      // scheme://host[:port] browsers use; no trailing slash
  std::string session_secret;  // at least kMinSecretLength characters when sessions are used
  int64_t idle_timeout_ms = 30 * 60 * 1000;
  int64_t absolute_timeout_ms = 12 * 3600 * 1000;
  OidcSpec oidc;
  ProxySpec proxy;
  std::string tokens_file = ".sightline/tokens.json";  // relative to the project directory
  bool allow_remote = false;                           // mode none: serve beyond loopback anyway
  std::vector<std::string> frame_ancestors;            // origins allowed to frame the UI (empty: none)
  // Load balancers / TLS proxies in front of Sightline: from these peers, X-Forwarded-For names
  // the client (for sign-in rate limits and the audit log). Mode proxy adds its trusted_proxies.
  std::vector<std::string> forwarded_by;
  int sign_in_per_minute = 30;
  int concurrent_queries_per_user = 8;
  Position pos;
  bool enabled() const { return mode != AuthMode::None; }
};
inline constexpr size_t kMinSecretLength = 32;

// An application role and the identity-provider groups that confer it.
struct RoleSpec {
  std::string name;
  std::vector<std::string> groups;
  Position pos;
};

// Which rows of `relation` a role sees: every row, or those a predicate selects.
struct PolicySpec {
  std::string relation;
  std::string role;
  bool all_rows = false;
  std::string predicate;  // SQL over the relation's columns with {{ user.* }} placeholders
  // Every column the predicate reads, found by parsing it against the engine (set when the
  // project is loaded for serving; empty and unknown before).
  std::vector<std::string> columns;
  bool columns_known = false;
  Position pos;
};

struct Project {
  std::filesystem::path dir;  // absolute
  std::string name;
  // The IANA time zone in which days begin (date filters over timestamps, day and month buckets
  // of time axes, pre-aggregates): "UTC" unless `timezone:` says otherwise.
  std::string timezone = "UTC";
  Position timezone_pos;
  EngineSpec engine;
  std::vector<ObjectStoreSpec> object_stores;
  std::vector<SourceSpec> sources;
  std::vector<ModelSpec> models;
  std::vector<DashboardSpec> dashboards;
  AuthSpec auth;
  std::vector<RoleSpec> roles;
  std::vector<PolicySpec> policies;
  std::vector<std::filesystem::path> files;  // every file read (absolute): what hot reload watches
  std::vector<std::string> secret_values;    // values that came from ${env:}/${file:}: never log them

  const DashboardSpec* find_dashboard(std::string_view id) const;
  const ObjectStoreSpec* find_object_store(std::string_view name) const;
  // A fingerprint of everything the engine is built from or carries (sources, models, engine
  // settings and limits):
  // when it is unchanged across a reload, the loaded data can be reused.
  std::string engine_fingerprint() const;
};

// Where ${env:NAME} and ${file:PATH} get their values; tests inject their own.
struct Environment {
  std::function<std::optional<std::string>(const std::string&)> get_env;
  std::function<std::optional<std::string>(const std::filesystem::path&)> read_file;
};
Environment system_environment();

struct LoadResult {
  std::optional<Project> project;       // set when there are no errors (warnings allowed)
  std::vector<Diagnostic> diagnostics;  // already redacted of secret values
  bool ok() const { return project.has_value(); }
};

// Replaces every occurrence of a secret value in messages and hints with "[redacted]".
void redact_secrets(std::vector<Diagnostic>& diagnostics, const std::vector<std::string>& secrets);
std::string redact_secrets(std::string text, const std::vector<std::string>& secrets);

// Reads dir/sightline.yaml and the dashboard files it names. Never throws; every problem is a
// diagnostic with a position.
LoadResult load_project(const std::filesystem::path& dir, const Environment& env);

}  // namespace sightline::config
