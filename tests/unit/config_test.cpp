#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "config/project.h"
#include "config/service_url.h"

namespace sightline::config {
namespace {
namespace fs = std::filesystem;

// A project folder in a temp dir, removed afterwards.
class TempProject {
 public:
  explicit TempProject(const std::map<std::string, std::string>& files) {
    dir_ = fs::temp_directory_path() / ("sightline-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(dir_);
    for (const auto& [name, text] : files) {
      fs::create_directories((dir_ / name).parent_path());
      std::ofstream(dir_ / name) << text;
    }
  }
  ~TempProject() { fs::remove_all(dir_); }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
  static inline int counter_ = 0;
};

Environment test_env(std::map<std::string, std::string> vars = {}) {
  Environment env = system_environment();
  env.get_env = [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  return env;
}

std::string all_text(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += format_diagnostic(d) + "\n";
  return out;
}

TEST(Config, LoadsAFullProject) {
  TempProject p({{"sightline.yaml", R"(name: Demo
engine: {threads: 2, memory_limit: 1GB, query_timeout: 2s, max_rows: 500}
sources:
  orders: {path: data/orders/, hive_partitioning: true, materialize: true}
  people: {path: data/people.csv, csv: {delimiter: ";", header: true}, types: {id: BIGINT}}
models:
  big_orders: SELECT * FROM orders WHERE revenue > 100
)"},
                 {"dashboards/sales.yaml", R"(title: Sales
source: orders
dimensions: [region]
filters:
  - {id: region, type: select, column: region, default: North}
  - {id: period, type: daterange, column: order_date, default: {from: "2024-01-01", to: "2024-12-31"}}
pages:
  - title: One
    widgets:
      - {id: rev, type: kpi, measure: sum(revenue)}
      - {id: trend, type: line, x: {column: order_date, grain: month}, y: [sum(revenue), {expr: count(*), as: n}], color: region}
  - title: Two
    widgets:
      - {id: t, type: table, columns: [region, revenue], sort: -revenue}
)"}});
  auto r = load_project(p.dir(), test_env());
  ASSERT_TRUE(r.ok()) << all_text(r);
  const Project& proj = *r.project;
  EXPECT_EQ(proj.name, "Demo");
  EXPECT_EQ(proj.engine.threads, 2);
  EXPECT_EQ(proj.engine.query_timeout_ms, 2000);
  EXPECT_EQ(proj.engine.max_rows, 500);
  ASSERT_EQ(proj.sources.size(), 2u);
  EXPECT_EQ(proj.sources[0].format, SourceFormat::Parquet);
  EXPECT_TRUE(proj.sources[0].materialize);
  EXPECT_EQ(proj.sources[1].format, SourceFormat::Csv);
  EXPECT_EQ(proj.sources[1].csv.delimiter.value_or(""), ";");
  EXPECT_EQ(proj.sources[1].types.at("id"), "BIGINT");
  ASSERT_EQ(proj.dashboards.size(), 1u);
  const auto& d = proj.dashboards[0];
  EXPECT_EQ(d.id, "sales");
  EXPECT_EQ(d.filters[0].default_value, "North");
  EXPECT_EQ(d.filters[1].default_value["from"], "2024-01-01");
  const WidgetSpec* trend = d.find_widget("trend");
  ASSERT_NE(trend, nullptr);
  EXPECT_EQ(trend->x->grain, "month");
  ASSERT_EQ(trend->measures.size(), 2u);
  EXPECT_EQ(trend->measures[0].name, "sum_revenue");
  EXPECT_EQ(trend->measures[1].name, "n");
  EXPECT_EQ(trend->color->column, "region");
  const WidgetSpec* table = d.find_widget("t");
  ASSERT_TRUE(table->sort.has_value());
  EXPECT_TRUE(table->sort->descending);
  EXPECT_EQ(table->sort->column, "revenue");
  EXPECT_EQ(table->width, 12);
  EXPECT_EQ(proj.files.size(), 2u);
}

struct BadCase {
  const char* name;
  std::map<std::string, std::string> files;
  const char* expected;  // a substring of the formatted diagnostics
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class ConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrors, NamesFileLineColumnAndHint) {
  const BadCase& c = GetParam();
  TempProject p(c.files);
  auto r = load_project(p.dir(), test_env());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(all_text(r).find(c.expected), std::string::npos) << "got:\n" << all_text(r);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConfigErrors,
    ::testing::Values(
        BadCase{"no_project_file", {{"x.txt", ""}}, "no sightline.yaml"},
        BadCase{"yaml_syntax", {{"sightline.yaml", "sources:\n  a: [1, 2\n"}}, "sightline.yaml:3:1: error: YAML syntax error"},
        BadCase{"typo_key", {{"sightline.yaml", "sources:\n  a: data/a.csv\nengin: {}\n"}},
                "sightline.yaml:3:1: error: unknown key 'engin' in sightline.yaml\n  hint: did you mean 'engine'?"},
        BadCase{"no_sources", {{"sightline.yaml", "name: x\n"}}, "has no sources"},
        BadCase{"bad_source_name", {{"sightline.yaml", "sources:\n  \"my table\": data/a.csv\n"}}, "sightline.yaml:2:3: error: source name 'my table' is not a valid name"},
        BadCase{"unknown_format", {{"sightline.yaml", "sources:\n  a: data/a.xlsx\n"}}, "cannot tell the format"},
        BadCase{"bad_type", {{"sightline.yaml", "sources:\n  a: {path: a.csv, types: {x: \"INT; DROP\"}}\n"}}, "is not a SQL type"},
        BadCase{"duckdb_without_table", {{"sightline.yaml", "sources:\n  a: data/a.duckdb\n"}}, "names no table"},
        BadCase{"bad_threads", {{"sightline.yaml", "engine: {threads: lots}\nsources: {a: a.csv}\n"}}, "engine.threads must be a whole number, got 'lots'"},
        BadCase{"bad_memory", {{"sightline.yaml", "engine: {memory_limit: huge}\nsources: {a: a.csv}\n"}}, "engine.memory_limit must look like 4GB"},
        BadCase{"bad_spill", {{"sightline.yaml", "engine: {max_spill: lots}\nsources: {a: a.csv}\n"}}, "engine.max_spill must look like 4GB"},
        BadCase{"missing_env", {{"sightline.yaml", "sources:\n  a: \"${env:NOPE_NOT_SET}.csv\"\n"}}, "environment variable 'NOPE_NOT_SET' is not set"},
        BadCase{"missing_secret_file", {{"sightline.yaml", "sources:\n  a: \"${file:nope.txt}.csv\"\n"}}, "cannot read secret file 'nope.txt'"},
        BadCase{"model_name_taken", {{"sightline.yaml", "sources: {a: a.csv}\nmodels: {a: SELECT 1}\n"}}, "already a source or model"},
        BadCase{"unknown_widget_type",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: gauge}\n"}},
                "dashboards/d.yaml:3:19: error: unknown widget type 'gauge'"},
        BadCase{"kpi_without_measure",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: kpi}\n"}},
                "a kpi needs exactly one measure"},
        BadCase{"bar_without_x",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: bar, y: sum(x)}\n"}},
                "a bar chart needs x\n  hint: e.g. x: region"},
        BadCase{"bad_width",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: kpi, measure: count(*), width: 13}\n"}},
                "width must be between 1 and 12, got 13"},
        BadCase{"unknown_filter_type",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nfilters:\n  - {id: f, type: slider, column: x}\n"}},
                "unknown filter type 'slider'\n  hint: use select, multiselect, range, daterange or text"},
        BadCase{"compare_without_daterange_filter",
                {{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: kpi, measure: count(*), compare: previous_period}\n"}},
                "dashboards/d.yaml:3:52: error: compare: previous_period needs a daterange filter on the dashboard"},
        BadCase{"compare_unknown_period",
                {{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nfilters:\n  - {id: p, type: daterange, column: d}\nwidgets:\n  - {id: w, type: kpi, measure: count(*), compare: last_year}\n"}},
                "unknown comparison 'last_year'"},
        BadCase{"compare_two_dateranges",
                {{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nfilters:\n  - {id: p, type: daterange, column: d}\n  - {id: q, type: daterange, column: e}\n"
                                       "widgets:\n  - {id: w, type: kpi, measure: count(*), compare: previous_period}\n"}},
                "say which one the comparison shifts"},
        BadCase{"compare_filter_not_daterange",
                {{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nfilters:\n  - {id: p, type: select, column: d}\nwidgets:\n"
                                       "  - {id: w, type: kpi, measure: count(*), compare: {filter: p}}\n"}},
                "'p' is not a daterange filter of this dashboard"},
        BadCase{"compare_on_a_bar",
                {{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: bar, x: k, y: count(*), compare: previous_period}\n"}},
                "'compare' does nothing on a bar widget"},
        BadCase{"two_statements",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: kpi, sql: \"SELECT 1; DROP TABLE a\"}\n"}},
                "a widget's sql is a single SELECT statement"},
        BadCase{"key_the_type_ignores",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: kpi, measure: count(*), value: sum(x)}\n"}},
                "'value' does nothing on a kpi widget\n  hint: it applies to: heatmap"},
        BadCase{"approx_without_a_distinct_count",
                {{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: kpi, measure: {expr: sum(x), approx: true}}\n"}},
                "dashboards/d.yaml:3:56: error: approx: true applies to distinct counts, and 'sum(x)' has none"},
        BadCase{"approx_not_a_boolean",
                {{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: kpi, measure: {expr: count(DISTINCT x), approx: maybe}}\n"}},
                "approx"},
        BadCase{"bad_grain",
                {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: line, x: {column: d, grain: fortnight}, y: count(*)}\n"}},
                "unknown grain 'fortnight'"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(Config, EnvAndFileSecretsAreInterpolatedAndRemembered) {
  TempProject p({{"sightline.yaml", "sources:\n  a: {path: \"data/${env:TABLE_NAME}.csv\", table: \"${file:secret.txt}\"}\n"},
                 {"secret.txt", "s3cr3t-value\n"}});
  auto r = load_project(p.dir(), test_env({{"TABLE_NAME", "orders"}}));
  ASSERT_TRUE(r.ok()) << all_text(r);
  EXPECT_EQ(r.project->sources[0].path, "data/orders.csv");
  EXPECT_EQ(r.project->sources[0].table, "s3cr3t-value");
  EXPECT_NE(std::find(r.project->secret_values.begin(), r.project->secret_values.end(), "s3cr3t-value"), r.project->secret_values.end());
}

TEST(Config, DiagnosticsNeverShowSecretValues) {
  TempProject p(std::map<std::string, std::string>{{"sightline.yaml", "sources:\n  a: {path: \"${env:SECRET_PATH}\"}\n"}});
  auto r = load_project(p.dir(), test_env({{"SECRET_PATH", "topsecret.xlsx"}}));
  ASSERT_FALSE(r.ok());
  std::string text = all_text(r);
  EXPECT_EQ(text.find("topsecret"), std::string::npos) << text;
  EXPECT_NE(text.find("[redacted]"), std::string::npos) << text;
}

// Every diagnostic of a load, as "severity: message" lines.
std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) out.push_back((d.severity == Diagnostic::Severity::Error ? "error: " : "warning: ") + d.message);
  return out;
}

TEST(Config, UnknownPlaceholdersInOwnSqlAreNamedAtTheWidget) {
  TempProject p({{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml",
                  "source: a\nwidgets:\n"
                  "  - {id: typo, type: kpi, sql: \"SELECT count(*) FROM a WHERE {{ filter }}\"}\n"
                  "  - {id: user, type: kpi, sql: \"SELECT count(*) FROM a WHERE owner = {{user.email}}\"}\n"
                  "  - {id: open, type: kpi, sql: \"SELECT count(*) FROM a WHERE {{ filters }\"}\n"}});
  auto r = load_project(p.dir(), test_env());
  ASSERT_FALSE(r.ok());
  std::string text = all_text(r);
  EXPECT_NE(text.find("dashboards/d.yaml:3:32: error: widget 'typo': unknown placeholder {{ filter }} in its sql\n"
                      "  hint: did you mean {{ filters }}?"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("dashboards/d.yaml:4:32: error: widget 'user': unknown placeholder {{ user.email }} in its sql\n"
                      "  hint: {{ user.* }} belongs in row policies"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("dashboards/d.yaml:5:32: error: widget 'open': a '{{' without '}}' in its sql"), std::string::npos) << text;
  EXPECT_EQ(r.diagnostics.size(), 3u) << text;
}

TEST(Config, OwnSqlWithoutPlaceholderWarnsOnlyWhenTheDashboardHasFilters) {
  const std::string widgets =
      "widgets:\n"
      "  - {id: all_rows, type: kpi, sql: \"SELECT count(*) AS n FROM a\"}\n"
      "  - {id: filtered, type: kpi, sql: \"SELECT count(*) AS n FROM a WHERE {{filters}}\"}\n";
  TempProject with(
      {{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\nfilters:\n  - {id: k, column: k}\n" + widgets}});
  auto r = load_project(with.dir(), test_env());
  ASSERT_TRUE(r.ok()) << all_text(r);
  ASSERT_EQ(messages(r),
            (std::vector<std::string>{
                "warning: widget 'all_rows': the dashboard's filters do not apply to this widget: its sql has no {{ filters }}"}));
  EXPECT_EQ(r.diagnostics[0].pos.line, 5);
  EXPECT_NE(r.diagnostics[0].hint.find("WHERE {{ filters }}"), std::string::npos);

  TempProject without({{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "source: a\n" + widgets}});
  auto quiet = load_project(without.dir(), test_env());
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet.diagnostics.empty()) << all_text(quiet);
}

TEST(Config, AMistypedDashboardsFolderIsOneErrorWithTheFolderThatExists) {
  TempProject p({{"sightline.yaml", "sources: {a: a.csv}\ndashboards: dashboard/*.yaml\n"}, {"dashboards/d.yaml", "source: a\n"}});
  auto r = load_project(p.dir(), test_env());
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u) << all_text(r);
  EXPECT_EQ(all_text(r),
            "sightline.yaml:2:13: error: no folder 'dashboard' for dashboards pattern 'dashboard/*.yaml'\n"
            "  hint: did you mean 'dashboards/*.yaml'?\n");
}

TEST(Config, AColorOnAPieIsReportedOnce) {
  TempProject p({{"sightline.yaml", "sources: {a: a.csv}\n"},
                 {"dashboards/d.yaml", "source: a\nwidgets:\n  - {id: w, type: pie, x: k, y: count(*), color: c}\n"}});
  auto r = load_project(p.dir(), test_env());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(messages(r), (std::vector<std::string>{"error: 'color' does nothing on a pie widget"}));
}

TEST(Config, EngineFingerprintIgnoresDashboards) {
  TempProject a({{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "title: One\n"}});
  TempProject b({{"sightline.yaml", "sources: {a: a.csv}\n"}, {"dashboards/d.yaml", "title: Two\n"}});
  TempProject c({{"sightline.yaml", "sources: {a: b.csv}\n"}, {"dashboards/d.yaml", "title: One\n"}});
  auto ra = load_project(a.dir(), test_env()), rb = load_project(b.dir(), test_env()), rc = load_project(c.dir(), test_env());
  ASSERT_TRUE(ra.ok() && rb.ok() && rc.ok());
  EXPECT_EQ(ra.project->engine_fingerprint(), rb.project->engine_fingerprint());
  EXPECT_NE(ra.project->engine_fingerprint(), rc.project->engine_fingerprint());
}


TEST(Config, RefreshPoliciesAreReadPerSource) {
  TempProject p(std::map<std::string, std::string>{{"sightline.yaml", R"(roles:
  ops: { groups: [ops] }
sources:
  a:
    path: data/a.csv
    materialize: true
    refresh: { every: 5m, cron: "0 6 * * MON-FRI", on_change: true, debounce: 500ms, roles: [ops] }
  b: { path: data/b.csv, refresh: { every: 7d } }
  c: data/c.csv
)"}});
  auto r = load_project(p.dir(), test_env());
  ASSERT_TRUE(r.ok()) << all_text(r);
  const auto& a = *r.project->sources[0].refresh;
  EXPECT_EQ(a.every_ms, 300'000);
  EXPECT_EQ(a.cron, "0 6 * * MON-FRI");
  EXPECT_TRUE(a.on_change);
  EXPECT_EQ(a.debounce_ms, 500);
  EXPECT_EQ(a.roles, std::vector<std::string>{"ops"});
  EXPECT_EQ(r.project->sources[1].refresh->every_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_FALSE(r.project->sources[1].refresh->on_change);
  EXPECT_FALSE(r.project->sources[2].refresh.has_value());
  // A refresh policy is not part of what the engine is built from: editing it reloads no data.
  TempProject q(std::map<std::string, std::string>{{"sightline.yaml", "sources:\n  a: {path: data/a.csv, materialize: true}\n  b: {path: data/b.csv}\n  c: data/c.csv\n"}});
  auto plain = load_project(q.dir(), test_env());
  ASSERT_TRUE(plain.ok()) << all_text(plain);
  EXPECT_EQ(r.project->sources[0].refresh->pos.line, 7);  // 1-based: the refresh: line
  auto without_dir = [](std::string fp, const fs::path& dir) {
    for (size_t at = fp.find(dir.string()); at != std::string::npos; at = fp.find(dir.string())) fp.erase(at, dir.string().size());
    return fp;
  };
  EXPECT_EQ(without_dir(r.project->engine_fingerprint(), p.dir()), without_dir(plain.project->engine_fingerprint(), q.dir()));
}

TEST(Config, AppendAndIngestSourcesAreRead) {
  TempProject p(std::map<std::string, std::string>{{"sightline.yaml", R"y(roles:
  feeders: { groups: [feeders] }
sources:
  orders: { path: data/orders/*.parquet, mode: append, keep: 90d, order_by: at }
  events:
    ingest: { roles: [feeders] }
    columns: { at: TIMESTAMPTZ, amount: "DECIMAL(12,2)", kind: VARCHAR }
    keep: 7d
  plain: { path: data/c.csv, mode: replace }
)y"}});
  auto r = load_project(p.dir(), test_env());
  ASSERT_TRUE(r.ok()) << all_text(r);
  const auto& orders = r.project->sources[0];
  EXPECT_TRUE(orders.appends());
  EXPECT_EQ(orders.keep_ms, 90LL * 86'400'000);
  EXPECT_FALSE(orders.ingest.has_value());
  const auto& events = r.project->sources[1];
  EXPECT_TRUE(events.appends()) << "a source that receives rows appends them";
  ASSERT_TRUE(events.ingest.has_value());
  EXPECT_EQ(events.ingest->roles, std::vector<std::string>{"feeders"});
  EXPECT_TRUE(events.path.empty());
  using Columns = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(events.columns, (Columns{{"at", "TIMESTAMPTZ"}, {"amount", "DECIMAL(12,2)"}, {"kind", "VARCHAR"}}));
  EXPECT_EQ(events.keep_ms, 7LL * 86'400'000);
  EXPECT_FALSE(r.project->sources[2].appends());
  // The mode and the columns are part of what the engine is built from; keep and roles are not.
  EXPECT_NE(r.project->engine_fingerprint().find("\"mode\":\"append\""), std::string::npos);
  EXPECT_EQ(r.project->engine_fingerprint().find("feeders"), std::string::npos);
}

TEST(Config, BadAppendAndIngestSourcesArePreciseErrors) {
  auto errors_of = [](const std::string& source) {
    TempProject p(std::map<std::string, std::string>{{"sightline.yaml", "roles:\n  ops: { groups: [ops] }\nsources:\n  a:\n" + source}});
    auto r = load_project(p.dir(), test_env());
    EXPECT_FALSE(r.ok()) << source;
    std::string text;
    for (const auto& m : messages(r))
      if (m.starts_with("error: ")) text += m + "\n";
    return text;
  };
  EXPECT_NE(errors_of("    path: data/a.csv\n    mode: upsert\n").find("unknown mode 'upsert'"), std::string::npos);
  EXPECT_NE(errors_of("    path: data/a.duckdb\n    table: t\n    mode: append\n").find("mode: append reads files (parquet, csv, json), not a DuckDB database"),
            std::string::npos);
  EXPECT_NE(errors_of("    ingest: true\n").find("source 'a' receives rows but declares no columns"), std::string::npos);
  EXPECT_NE(errors_of("    ingest: true\n    path: data/a.csv\n    columns: { x: BIGINT }\n").find("receives rows (ingest) and reads no files"),
            std::string::npos);
  EXPECT_NE(errors_of("    ingest: { roles: [nobody] }\n    columns: { x: BIGINT }\n").find("source 'a' ingest: unknown role 'nobody'"),
            std::string::npos);
  EXPECT_NE(errors_of("    ingest: true\n    columns: { x: DECIMAL(12,2) }\n").find("'DECIMAL(12' is not a SQL type"), std::string::npos);
  {
    // In a { } map the comma ends the value: the hint says to quote the type.
    TempProject p(std::map<std::string, std::string>{{"sightline.yaml", "sources:\n  a:\n    ingest: true\n    columns: { x: DECIMAL(12,2) }\n"}});
    const std::string text = all_text(load_project(p.dir(), test_env()));
    EXPECT_NE(text.find("quote the type, e.g. amount: \"DECIMAL(12,2)\""), std::string::npos) << text;
  }
  EXPECT_NE(errors_of("    ingest: true\n    columns: { __sightline_batch: BIGINT }\n").find("cannot be a column name"), std::string::npos);
  EXPECT_NE(errors_of("    path: data/a.csv\n    columns: { x: BIGINT }\n").find("columns: declares the schema of rows received over HTTP"),
            std::string::npos);
  EXPECT_NE(errors_of("    path: data/a.csv\n    keep: 7d\n").find("keep: applies to sources that append"), std::string::npos);
  EXPECT_NE(errors_of("    path: data/a.csv\n    mode: append\n    keep: 10s\n").find("source 'a'.keep must be between"), std::string::npos);
}

TEST(Config, RedisUrlsAreRead) {
  auto a = parse_redis_url("redis://127.0.0.1:6380/2");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->database, 2);
  EXPECT_EQ(a->password, "");
  auto b = parse_redis_url("redis://:p@ss:w0rd@cache.internal");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->host, "cache.internal");
  EXPECT_EQ(b->port, 6379);
  EXPECT_EQ(b->user, "");
  EXPECT_EQ(b->password, "p@ss:w0rd") << "the last @ ends the credentials; the first : after the user starts the password";
  auto c = parse_redis_url("redis://reader:secret@h:1/");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "reader");
  EXPECT_EQ(c->password, "secret");
  EXPECT_EQ(c->database, 0);
  for (const char* bad : {"http://h:1", "redis://", "redis://h:0", "redis://h:99999", "redis://h:x", "redis://h/db", "redis://:topsecret@h:70000"}) {
    auto r = parse_redis_url(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().message.find("topsecret"), std::string::npos);
  }
  // At load, with the file:line of the url.
  TempProject p(std::map<std::string, std::string>{
      {"sightline.yaml", "sources:\n  s:\n    redis: { url: \"redis://h:99999\", stream: x }\n    columns: { id: BIGINT }\n"}});
  auto loaded = load_project(p.dir(), test_env());
  EXPECT_FALSE(loaded.ok());
  EXPECT_NE(all_text(loaded).find("sightline.yaml:3:19: error: source 's' redis.url: the Redis URL's port must be a number from 1 to 65535"),
            std::string::npos)
      << all_text(loaded);
}

TEST(Config, MqttUrlsAreRead) {
  auto a = parse_mqtt_url("mqtt://broker.internal");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "broker.internal");
  EXPECT_EQ(a->port, 1883);
  EXPECT_EQ(a->user, "");
  auto b = parse_mqtt_url("mqtt://reader:p@ss:w0rd@10.0.0.7:8883/");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->host, "10.0.0.7");
  EXPECT_EQ(b->port, 8883);
  EXPECT_EQ(b->user, "reader");
  EXPECT_EQ(b->password, "p@ss:w0rd");
  auto c = parse_mqtt_url("mqtt://only-user@h");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "only-user") << "a credential without ':' is a user name in MQTT";
  EXPECT_EQ(c->password, "");
  for (const char* bad : {"redis://h", "mqtt://", "mqtt://h:0", "mqtt://h:x", "mqtt://h/topic", "mqtt://:topsecret@h", "mqtts://u:topsecret@h"}) {
    auto r = parse_mqtt_url(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().message.find("topsecret"), std::string::npos) << r.error().message;
  }
  EXPECT_NE(parse_mqtt_url("mqtts://h").error().message.find("TLS"), std::string::npos);
}

TEST(Config, MqttSourcesAreReadWithPreciseErrors) {
  auto load = [](const std::string& source) {
    TempProject p(std::map<std::string, std::string>{{"sightline.yaml", "name: plant\nsources:\n  readings:\n" + source}});
    return load_project(p.dir(), test_env());
  };
  auto ok = load("    mqtt: { url: \"mqtt://h:1884\", topic: \"plant/+/reading\", topic_column: t, batch: 50, session_expiry: 2d }\n"
                 "    columns: { id: BIGINT, t: VARCHAR }\n");
  ASSERT_TRUE(ok.ok()) << all_text(ok);
  const auto& s = ok.project->sources.at(0);
  ASSERT_TRUE(s.mqtt.has_value());
  EXPECT_EQ(s.mqtt->topic, "plant/+/reading");
  EXPECT_EQ(s.mqtt->client_id, "sightline-plant-readings") << "a stable default: the broker keeps the session under it";
  EXPECT_EQ(s.mqtt->batch, 50);
  EXPECT_EQ(s.mqtt->session_expiry_s, 2 * 86'400);
  EXPECT_EQ(s.mqtt->topic_column, "t");
  EXPECT_TRUE(s.appends());
  EXPECT_TRUE(s.receives_rows());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"    mqtt: { url: \"mqtt://h\", topic: \"a/#/b\" }\n    columns: { id: BIGINT }\n", "sightline.yaml:4:37: error: source 'readings' mqtt.topic: # must be the last level"},
      {"    mqtt: { url: \"mqtt://h\", topic: \"a/b+\" }\n    columns: { id: BIGINT }\n", "mqtt.topic: a wildcard (+ or #) must fill a whole level"},
      {"    mqtt: { url: \"mqtt://h\" }\n    columns: { id: BIGINT }\n", "source 'readings' mqtt: names no topic"},
      {"    mqtt: { url: \"mqtt://h:99999\", topic: a }\n    columns: { id: BIGINT }\n", "sightline.yaml:4:18: error: source 'readings' mqtt.url: the MQTT URL's port must be a number from 1 to 65535"},
      {"    mqtt: { url: \"mqtt://h\", topic: a, topic_column: t }\n    columns: { id: BIGINT }\n", "mqtt.topic_column: 't' is not one of its columns"},
      {"    mqtt: { url: \"mqtt://h\", topic: a, topic_column: id }\n    columns: { id: BIGINT }\n", "mqtt.topic_column: 'id' is BIGINT; a topic is text"},
      {"    mqtt: { url: \"mqtt://h\", topic: a, qos: 2 }\n    columns: { id: BIGINT }\n", "unknown key 'qos'"},
      {"    mqtt: { url: \"mqtt://h\", topic: a, batch: 70000 }\n    columns: { id: BIGINT }\n", "mqtt.batch must be between 1 and 65535"},
      {"    mqtt: { url: \"mqtt://h\", topic: a }\n", "source 'readings' receives rows but declares no columns"},
      {"    path: data/x.csv\n    mqtt: { url: \"mqtt://h\", topic: a }\n    columns: { id: BIGINT }\n", "receives rows (mqtt) and reads no files"},
      {"    mqtt: { url: \"mqtt://h\", topic: a }\n    redis: { url: \"redis://h\", stream: s }\n    columns: { id: BIGINT }\n", "cannot also receive rows otherwise"},
  };
  for (const auto& [source, expected] : cases) {
    auto r = load(source);
    EXPECT_FALSE(r.ok()) << source;
    EXPECT_NE(all_text(r).find(expected), std::string::npos) << source << "\ngot:\n" << all_text(r);
  }
}

TEST(Config, BadRefreshPoliciesArePreciseErrors) {
  auto errors_of = [](const std::string& refresh) {
    TempProject p(std::map<std::string, std::string>{{"sightline.yaml", "roles:\n  ops: { groups: [ops] }\nsources:\n  a:\n    path: data/a.csv\n    refresh: " + refresh + "\n"}});
    auto r = load_project(p.dir(), test_env());
    EXPECT_FALSE(r.ok()) << refresh;
    std::string text;
    for (const auto& m : messages(r))
      if (m.starts_with("error: ")) text += m + "\n";
    return text;
  };
  EXPECT_NE(errors_of("{ every: soon }").find("source 'a' refresh.every must be a duration like 30s, 5m, 12h or 7d, got 'soon'"),
            std::string::npos);
  EXPECT_NE(errors_of("{ every: 100ms }").find("refresh.every must be between 1s and 31d, got '100ms'"), std::string::npos);
  EXPECT_NE(errors_of("{ every: 40d }").find("between 1s and 31d"), std::string::npos);
  EXPECT_NE(errors_of("{ cron: \"0 25 * * *\" }").find("source 'a' refresh.cron: cron field 2 (hour): 25 is outside 0-23"),
            std::string::npos);
  EXPECT_NE(errors_of("{ cron: \"0 6 * *\" }").find("has 4 fields; expected 5"), std::string::npos);
  EXPECT_NE(errors_of("{ on_change: maybe }").find("refresh.on_change must be true or false, got 'maybe'"), std::string::npos);
  EXPECT_NE(errors_of("{ roles: [nobody] }").find("source 'a' refresh: unknown role 'nobody'"), std::string::npos);
  EXPECT_NE(errors_of("{ evry: 5m }").find("evry"), std::string::npos);
  EXPECT_NE(errors_of("5m").find("refresh"), std::string::npos);
}

TEST(Config, ChecksOfASourceAreParsedWithDefaultSeveritiesAndPositions) {
  TempProject p(std::map<std::string, std::string>{{"sightline.yaml", R"yaml(sources:
  orders:
    path: data/orders/**/*.parquet
    materialize: true
    checks:
      - { not_null: order_id, severity: warn }
      - { unique: [order_id, line] }
      - { accepted_values: { column: region, values: [North, South] }, severity: error }
      - { range: { column: amount, min: 0 } }
      - { regex: { column: sku, pattern: '[A-Z]{2}-[0-9]+' } }
      - { row_count: { min: 1, max_change: 0.5 } }
      - { freshness: { column: order_date, max_age: 2d } }
      - { schema: { columns: { order_id: BIGINT, amount: "DECIMAL(10,2)" }, extra: error } }
)yaml"}});
  auto r = load_project(p.dir(), test_env());
  ASSERT_TRUE(r.ok()) << all_text(r);
  const auto& checks = r.project->sources[0].checks;
  ASSERT_EQ(checks.size(), 8u);
  std::vector<std::string> texts;
  for (const auto& c : checks) texts.push_back(c.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"not_null: order_id", "unique: [order_id, line]", "accepted_values: region", "range: amount",
                                             "regex: sku", "row_count", "freshness: order_date", "schema"}));
  std::vector<CheckSeverity> severities;
  for (const auto& c : checks) severities.push_back(c.severity);
  using S = CheckSeverity;
  EXPECT_EQ(severities, (std::vector<S>{S::Warn, S::Error, S::Error, S::Warn, S::Warn, S::Warn, S::Warn, S::Error}));
  EXPECT_EQ(checks[0].pos.line, 6);
  EXPECT_EQ(checks[0].pos.column, 9);
  EXPECT_EQ(checks[0].column_pos[0].column, 21);
  EXPECT_EQ(checks[2].values, (std::vector<std::string>{"North", "South"}));
  EXPECT_EQ(checks[3].min, "0");
  EXPECT_FALSE(checks[3].max.has_value());
  EXPECT_EQ(checks[4].pattern, "[A-Z]{2}-[0-9]+");
  EXPECT_EQ(checks[5].min_rows, 1);
  EXPECT_EQ(checks[5].max_change, 0.5);
  EXPECT_EQ(checks[6].max_age_ms, 2 * 86'400'000LL);
  EXPECT_EQ(checks[7].schema, (std::vector<std::pair<std::string, std::string>>{{"order_id", "BIGINT"}, {"amount", "DECIMAL(10,2)"}}));
  EXPECT_EQ(checks[7].extra, ExtraColumns::Error);
  // Checks are not part of what the engine is built from: editing them reloads no data.
  TempProject q(std::map<std::string, std::string>{
      {"sightline.yaml", "sources:\n  orders:\n    path: data/orders/**/*.parquet\n    materialize: true\n"}});
  auto plain = load_project(q.dir(), test_env());
  ASSERT_TRUE(plain.ok()) << all_text(plain);
  auto without_dir = [](std::string fp, const fs::path& dir) {
    for (size_t at = fp.find(dir.string()); at != std::string::npos; at = fp.find(dir.string())) fp.erase(at, dir.string().size());
    return fp;
  };
  EXPECT_EQ(without_dir(r.project->engine_fingerprint(), p.dir()), without_dir(plain.project->engine_fingerprint(), q.dir()));
}

TEST(Config, BadChecksArePreciseErrors) {
  auto errors_of = [](const std::string& checks) {
    TempProject p(
        std::map<std::string, std::string>{{"sightline.yaml", "sources:\n  a:\n    path: data/a.csv\n    checks: " + checks + "\n"}});
    auto r = load_project(p.dir(), test_env());
    EXPECT_FALSE(r.ok()) << checks;
    std::string text;
    for (const auto& d : r.diagnostics)
      if (d.severity == Diagnostic::Severity::Error) text += format_diagnostic(d) + "\n";
    return text;
  };
  EXPECT_EQ(errors_of("{ not_null: x }"),
            "sightline.yaml:4:13: error: source 'a' checks must be a list of rules\n"
            "  hint: e.g. checks: [{ not_null: order_id }, { unique: order_id }]\n");
  EXPECT_EQ(
      errors_of("[{ not_nul: x }]"),
      "sightline.yaml:4:16: error: unknown key 'not_nul' in source 'a' checks entry\n  hint: did you mean 'not_null'?\n"
      "sightline.yaml:4:14: error: source 'a' checks: an entry must name exactly one rule, this one names 0\n"
      "  hint: rules: not_null, unique, accepted_values, range, regex, row_count, freshness, schema; e.g. - { not_null: order_id }\n");
  EXPECT_NE(errors_of("[{ not_null: x, unique: x }]").find("an entry must name exactly one rule, this one names 2"), std::string::npos);
  EXPECT_NE(
      errors_of("[{ not_null: x, severity: fatal }]").find("4:39: error: source 'a' checks: severity must be warn or error, got 'fatal'"),
      std::string::npos);
  EXPECT_NE(errors_of("[{ not_null: [x, y] }]").find("source 'a' checks not_null column must be a single value, not a list"),
            std::string::npos);
  EXPECT_NE(errors_of("[{ unique: [] }]").find("source 'a' checks unique names no column"), std::string::npos);
  EXPECT_NE(errors_of("[{ unique: [x, x] }]").find("names a column twice"), std::string::npos);
  EXPECT_NE(errors_of("[{ accepted_values: { column: x } }]").find("accepted_values.values must be a list of 1 to 1000 values"),
            std::string::npos);
  EXPECT_NE(errors_of("[{ accepted_values: { colum: x, values: [a] } }]").find("unknown key 'colum' in source 'a' checks accepted_values"),
            std::string::npos);
  EXPECT_NE(errors_of("[{ range: { column: x } }]").find("range needs min, max or both"), std::string::npos);
  EXPECT_NE(errors_of("[{ regex: { column: x } }]").find("regex needs a pattern"), std::string::npos);
  EXPECT_NE(errors_of("[{ row_count: {} }]").find("row_count needs min, max or max_change"), std::string::npos);
  EXPECT_NE(errors_of("[{ row_count: { max_change: 50% } }]").find("max_change must be a fraction above 0, got '50%'"), std::string::npos);
  EXPECT_NE(errors_of("[{ row_count: { min: 10, max: 5 } }]").find("min is above max"), std::string::npos);
  EXPECT_NE(errors_of("[{ row_count: { min: -1 } }]").find("row_count.min must be between 0 and"), std::string::npos);
  EXPECT_NE(errors_of("[{ freshness: { column: d, max_age: soon } }]")
                .find("4:49: error: source 'a' checks freshness.max_age must be a duration like 30s, 5m, 12h or 7d, got 'soon'"),
            std::string::npos);
  EXPECT_NE(errors_of("[{ freshness: { column: d } }]").find("freshness needs max_age"), std::string::npos);
  EXPECT_NE(errors_of("[{ schema: { columns: { x: \"BIG INT(\" } } }]").find("'BIG INT(' is not a SQL type"), std::string::npos);
  EXPECT_NE(errors_of("[{ schema: { columns: { x: INT }, extra: maybe } }]").find("schema.extra must be allow, warn or error, got 'maybe'"),
            std::string::npos);
  EXPECT_NE(errors_of("[7]").find("source 'a' checks entry must be a mapping"), std::string::npos);
}


TEST(Config, ObjectStorageSourcesAreRead) {
  TempProject p(std::map<std::string, std::string>{{"sightline.yaml", R"(
object_stores:
  lake: { type: s3, region: eu-central-1, access_key_id: "${env:KEY_ID}", secret_access_key: "${env:SECRET}", max_cache: 20GB, parallel: 8 }
  blobs: { type: azure, account: acct01, sas: "${env:SAS}", endpoint: "http://127.0.0.1:10000/acct01/" }
sources:
  orders: s3://my-bucket/orders/
  sales: { path: "az://box/sales/*.csv", refresh: { on_change: true, poll: 30s } }
)"}});
  auto r = load_project(p.dir(), test_env({{"KEY_ID", "AKIA1"}, {"SECRET", "s3cr3t"}, {"SAS", "?sv=2021&sig=x"}}));
  ASSERT_TRUE(r.ok()) << all_text(r);
  const auto& stores = r.project->object_stores;
  EXPECT_EQ(stores[0].secret_access_key, "s3cr3t");
  ASSERT_EQ(stores.size(), 2u);
  EXPECT_EQ(stores[0].kind, ObjectStoreKind::S3);
  EXPECT_EQ(stores[0].region, "eu-central-1");
  EXPECT_FALSE(stores[0].path_style) << "AWS itself: virtual-host style";
  EXPECT_EQ(stores[0].max_cache_bytes, 20'000'000'000);
  EXPECT_EQ(stores[0].parallel, 8);
  EXPECT_EQ(stores[1].kind, ObjectStoreKind::Azure);
  EXPECT_EQ(stores[1].sas, "sv=2021&sig=x");
  EXPECT_EQ(stores[1].endpoint, "http://127.0.0.1:10000/acct01");
  const auto& orders = r.project->sources[0];
  ASSERT_TRUE(orders.object);
  EXPECT_EQ(orders.object->store, "lake");
  EXPECT_EQ(orders.object->container, "my-bucket");
  EXPECT_EQ(orders.object->pattern, "orders/**/*.parquet");
  EXPECT_EQ(orders.format, SourceFormat::Parquet);
  const auto& sales = r.project->sources[1];
  EXPECT_EQ(sales.object->store, "blobs");
  EXPECT_EQ(sales.format, SourceFormat::Csv);
  EXPECT_EQ(sales.refresh->poll_ms, 30'000);
  EXPECT_EQ(all_text(r).find("outside the project"), std::string::npos);
}

TEST(Config, BadObjectStorageSourcesArePreciseErrors) {
  auto errors_of = [](const std::string& yaml) {
    TempProject p(std::map<std::string, std::string>{{"sightline.yaml", yaml}});
    auto r = load_project(p.dir(), test_env());
    EXPECT_FALSE(r.ok()) << yaml;
    return all_text(r);
  };
  const std::string s3 = "object_stores:\n  lake: { type: s3 }\n";
  EXPECT_NE(errors_of("sources:\n  o: s3://bucket/x.parquet\n").find("source 'o' reads S3 but no such object store is declared"),
            std::string::npos);
  EXPECT_NE(errors_of(s3 + "sources:\n  o: { path: s3://bucket/x.parquet, store: laek }\n").find("no object store 'laek'\n  hint: did you mean 'lake'?"),
            std::string::npos);
  EXPECT_NE(errors_of(s3 + "sources:\n  o: { path: az://box/x.csv, store: lake }\n").find("store 'lake' is S3, the path is az://"),
            std::string::npos);
  EXPECT_NE(errors_of(s3 + "  lake2: { type: s3 }\nsources:\n  o: s3://bucket/x.parquet\n").find("more than one object store could serve"),
            std::string::npos);
  EXPECT_NE(errors_of(s3 + "sources:\n  o: s3://B_ad/x.parquet\n").find("'B_ad' is not a bucket name"), std::string::npos);
  EXPECT_NE(errors_of(s3 + "sources:\n  o: s3://bucket/a/../../x.parquet\n").find("has an empty, '.' or '..' part"), std::string::npos);
  EXPECT_NE(errors_of(s3 + "sources:\n  o: { path: data/x.parquet, store: lake }\n").find("store: applies to object URLs"),
            std::string::npos);
  EXPECT_NE(errors_of("sources:\n  o: { path: data/x.csv, refresh: { on_change: true, poll: 5s } }\n").find("refresh.poll applies to object storage"),
            std::string::npos);
  EXPECT_NE(errors_of("object_stores:\n  x: { type: gcs }\nsources:\n  o: data/x.csv\n").find("object store 'x'.type must be s3 or azure, got 'gcs'"),
            std::string::npos);
  EXPECT_NE(errors_of("object_stores:\n  x: { type: s3, access_key_id: a }\nsources:\n  o: data/x.csv\n").find("needs both access_key_id and secret_access_key"),
            std::string::npos);
  EXPECT_NE(errors_of("object_stores:\n  x: { type: s3, endpoint: \"ftp://h\" }\nsources:\n  o: data/x.csv\n").find("endpoint must be an http(s) URL"),
            std::string::npos);
  EXPECT_NE(errors_of("object_stores:\n  x: { type: s3, ca_file: missing.pem }\nsources:\n  o: data/x.csv\n").find("ca_file: no such file 'missing.pem'"),
            std::string::npos);
  EXPECT_NE(errors_of("object_stores:\n  x: { type: s3, max_cache: lots }\nsources:\n  o: data/x.csv\n").find("max_cache must be a size"),
            std::string::npos);
  EXPECT_NE(errors_of("object_stores:\n  x: { type: azure, account: A! }\nsources:\n  o: data/x.csv\n").find("must be a storage account name"),
            std::string::npos);
  // A secret written into the file is a warning.
  TempProject p(std::map<std::string, std::string>{{"sightline.yaml", "object_stores:\n  x: { type: s3, access_key_id: a, secret_access_key: plain }\nsources:\n  o: data/x.csv\n"}});
  EXPECT_NE(all_text(load_project(p.dir(), test_env())).find("secret_access_key is written into the YAML file"), std::string::npos);
}

}  // namespace
}  // namespace sightline::config
