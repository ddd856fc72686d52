// Own-SQL widgets that are plain aggregates, planned as declarative widgets (query/sql_widgets.h):
// which ones qualify, and that their answers, from the rows or from rollups, equal the SQL's own.
#include "query/sql_widgets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "arrow/json_writer.h"
#include "demo/demo_data.h"
#include "query/planner.h"
#include "query/rollup.h"
#include "demo_project.h"
#include "statement_runner.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using config::WidgetType;
using nlohmann::json;

class SqlWidgets : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::copy_demo_project("sqlwidgets", 60'000, 3));
    auto loaded = config::load_project(*dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok());
    project_ = new config::Project(std::move(*loaded.project));
    auto built = engine::Engine::build(*project_);
    ASSERT_TRUE(built.engine);
    engine_ = new std::shared_ptr<const engine::Engine>(built.engine);
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete project_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static config::WidgetSpec widget(WidgetType type, const std::string& sql, const std::string& x = "", const std::string& color = "") {
    config::WidgetSpec w;
    w.id = "w";
    w.type = type;
    w.sql = sql;
    if (!x.empty()) w.x = config::DimensionSpec{.column = x, .name = x};
    if (!color.empty()) w.color = config::DimensionSpec{.column = color, .name = color};
    return w;
  }
  static json run(const Statement& st) { return testing::run_statement(**engine_, st); }
  static fs::path* dir_;
  static config::Project* project_;
  static std::shared_ptr<const engine::Engine>* engine_;
};
fs::path* SqlWidgets::dir_ = nullptr;
config::Project* SqlWidgets::project_ = nullptr;
std::shared_ptr<const engine::Engine>* SqlWidgets::engine_ = nullptr;

TEST_F(SqlWidgets, OnlyPlainAggregatesOfOneRelationQualify) {
  const auto& engine = **engine_;
  auto top = declarative_equivalent(
      widget(WidgetType::Bar,
             "SELECT account_manager, sum(revenue) AS revenue, count(DISTINCT customer) AS customers\nFROM ORDERS_ENRICHED\n"
             "WHERE {{ filters }}\nGROUP BY account_manager\nORDER BY revenue DESC\nLIMIT 15",
             "account_manager"),
      engine);
  ASSERT_TRUE(top.has_value());
  EXPECT_TRUE(top->sql.empty());
  EXPECT_EQ(top->source, "orders_enriched") << "names in any letter case";
  EXPECT_EQ(top->x->column, "account_manager");
  ASSERT_EQ(top->measures.size(), 2u);
  EXPECT_EQ(top->measures[0].expr, "sum(\"revenue\")");
  EXPECT_EQ(top->measures[1].expr, "count(DISTINCT \"customer\")");
  EXPECT_EQ(top->measures[1].name, "customers");
  ASSERT_TRUE(top->sort.has_value());
  EXPECT_EQ(top->sort->column, "revenue");
  EXPECT_TRUE(top->sort->descending);
  EXPECT_EQ(top->limit, 15);

  for (const auto& [type, sql, x] : std::vector<std::tuple<WidgetType, std::string, std::string>>{
           {WidgetType::Kpi, "SELECT sum(revenue) AS r FROM orders WHERE region = 'North' AND {{ filters }}", ""},  // more than the filters
           {WidgetType::Kpi, "SELECT sum(revenue) FROM orders WHERE {{ filters }}", ""},                            // no alias
           {WidgetType::Kpi, "SELECT sum(revenue) AS r FROM orders", ""},                                           // no WHERE at all
           {WidgetType::Kpi, "SELECT 1 AS one", ""},                                                                // no FROM
           {WidgetType::Bar, "SELECT region, sum(revenue) AS r FROM orders WHERE {{ filters }} GROUP BY region LIMIT ALL", "region"},
           {WidgetType::Kpi, "SELECT median(revenue) AS m FROM orders WHERE {{ filters }}", ""},  // no rollup answers it
           {WidgetType::Kpi, "SELECT sum(o.revenue) AS r FROM orders o JOIN customers c USING (customer) WHERE {{ filters }}", ""},
           {WidgetType::Kpi, "WITH t AS (SELECT * FROM orders) SELECT sum(revenue) AS r FROM t WHERE {{ filters }}", ""},
           {WidgetType::Kpi, "SELECT sum(revenue) AS r FROM read_parquet('x') WHERE {{ filters }}", ""},
           {WidgetType::Bar, "SELECT region, sum(revenue) AS r FROM orders WHERE {{ filters }} GROUP BY ROLLUP (region)", "region"},
           {WidgetType::Bar, "SELECT sum(revenue) AS r, region FROM orders WHERE {{ filters }} GROUP BY region",
            "region"},  // measure first
           {WidgetType::Bar, "SELECT region, sum(revenue) AS r FROM orders WHERE {{ filters }} GROUP BY region HAVING sum(revenue) > 0",
            "region"},
           {WidgetType::Bar, "SELECT region, sum(revenue) AS r FROM orders WHERE {{ filters }} GROUP BY region", "channel"},  // x differs
           {WidgetType::Table, "SELECT region, sum(revenue) AS r FROM orders WHERE {{ filters }} GROUP BY region LIMIT 3", ""},
           {WidgetType::Scatter, "SELECT units, revenue FROM orders WHERE {{ filters }}", "units"},
           {WidgetType::Bar, "SELECT sum(revenue) AS r, region FROM orders WHERE {{ filters }} GROUP BY ALL", "region"},  // key last
           {WidgetType::Table, "SELECT region, 1 AS one, sum(revenue) AS r FROM orders WHERE {{ filters }} GROUP BY ALL", ""},
           {WidgetType::Table, "SELECT upper(region) AS r, sum(revenue) AS s FROM orders WHERE {{ filters }} GROUP BY ALL", ""},
           {WidgetType::Table, "SELECT upper(region) AS r, sum(revenue) AS s FROM orders WHERE {{ filters }} GROUP BY 1", ""},  // expression
           {WidgetType::Table, "SELECT region, sum(revenue) AS s FROM orders WHERE {{ filters }} GROUP BY 2", ""},  // groups by the measure
           {WidgetType::Table, "SELECT region, sum(revenue) AS s FROM orders WHERE {{ filters }} GROUP BY 3", ""},  // no such column
           {WidgetType::Bar, "SELECT region, sum(revenue) AS s FROM orders WHERE {{ filters }} GROUP BY 1 ORDER BY 5", "region"},
           {WidgetType::Bar, "SELECT hour(order_date) AS h, count(*) AS n FROM orders WHERE {{ filters }} GROUP BY 1", ""},  // a DATE has no hours
           {WidgetType::Bar, "SELECT isodow(order_date), count(*) AS n FROM orders WHERE {{ filters }} GROUP BY 1", ""},   // no alias
           {WidgetType::Bar, "SELECT dayofweek(order_date) AS d, count(*) AS n FROM orders WHERE {{ filters }} GROUP BY 1", ""},  // not a part kept
           {WidgetType::Bar, "SELECT region, segment, count(*) AS n FROM orders WHERE {{ filters }} GROUP BY 1, 2", ""},  // no x, two keys
       }) {
    EXPECT_FALSE(declarative_equivalent(widget(type, sql, x), engine).has_value()) << sql;
  }
}

// Equal results: the same columns, the same rows in the same order (or as a set, when the SQL's
// ORDER BY leaves ties), doubles equal to 12 significant digits (an average of sums and counts
// rounds differently from DuckDB's avg in the last bits).
bool same_answer(json a, json b, bool ordered) {
  if (a["columns"] != b["columns"] || a["rows"].size() != b["rows"].size()) return false;
  auto key = [](const json& row) { return row.dump(); };
  if (!ordered) {
    auto sort = [&](json& rows) { std::sort(rows.begin(), rows.end(), [&](const json& x, const json& y) { return key(x) < key(y); }); };
    sort(a["rows"]);
    sort(b["rows"]);
  }
  for (size_t r = 0; r < a["rows"].size(); ++r)
    for (size_t c = 0; c < a["rows"][r].size(); ++c) {
      const json &x = a["rows"][r][c], &y = b["rows"][r][c];
      if (x.is_number_float() && y.is_number_float()) {
        double dx = x.get<double>(), dy = y.get<double>();
        if (std::abs(dx - dy) > 1e-12 * std::max(std::abs(dx), std::abs(dy))) return false;
      } else if (x != y) {
        return false;
      }
    }
  return true;
}

TEST_F(SqlWidgets, EquivalentsAnswerLikeTheSqlFromRowsAndRollups) {
  const auto& engine = **engine_;
  config::DashboardSpec d = *project_->find_dashboard("customers");
  std::vector<config::WidgetSpec> widgets = {
      widget(WidgetType::Bar,
             "SELECT account_manager, sum(revenue) AS revenue, count(DISTINCT customer) AS customers FROM orders_enriched "
             "WHERE {{ filters }} GROUP BY account_manager ORDER BY revenue DESC LIMIT 15",
             "account_manager"),
      widget(WidgetType::Kpi, "SELECT round(sum(revenue) / nullif(count(*), 0), 2) AS per_order FROM orders_enriched WHERE {{ filters }}"),
      widget(WidgetType::Line,
             "SELECT segment, region, max(units) AS most, avg(revenue) AS mean FROM orders_enriched WHERE {{ filters }} "
             "GROUP BY segment, region ORDER BY segment",
             "segment", "region"),
      widget(WidgetType::Table,
             "SELECT region AS area, count(*) AS n FROM orders_enriched AS o WHERE {{ filters }} GROUP BY o.region ORDER BY n DESC"),
      // GROUP BY ALL: grouped by the leading plain columns.
      widget(WidgetType::Table,
             "SELECT region, \"segment\", count(*) AS n, sum(revenue) AS \"revenue (€)\", avg(units) AS \"Ø units\" "
             "FROM orders_enriched WHERE {{ filters }} GROUP BY ALL"),
      // Positions and aliases, as analysts write them: GROUP BY 1, 2 / ORDER BY 3 DESC / GROUP BY an alias.
      widget(WidgetType::Table,
             "SELECT region, segment, sum(revenue) AS revenue FROM orders_enriched WHERE {{ filters }} GROUP BY 1, 2 ORDER BY 3 DESC"),
      widget(WidgetType::Bar,
             "SELECT account_manager AS manager, count(*) AS orders FROM orders_enriched WHERE {{ filters }} GROUP BY manager ORDER BY 1",
             "manager"),
      // Parts of a date, on a chart that names no x (its first column is the x).
      widget(WidgetType::Bar,
             "SELECT isodow(order_date) AS weekday, sum(revenue) AS revenue, count(DISTINCT customer) AS customers "
             "FROM orders_enriched WHERE {{ filters }} GROUP BY isodow(order_date) ORDER BY weekday"),
      widget(WidgetType::Table,
             "SELECT month(order_date) AS \"month of year\", region, count(*) AS n FROM orders_enriched WHERE {{ filters }} "
             "GROUP BY 1, 2"),
      // Aggregates alone: one row, no key (its count statement was once malformed SQL).
      widget(WidgetType::Table, "SELECT count(*) AS n, sum(revenue) AS total FROM orders_enriched WHERE {{ filters }}"),
  };
  for (size_t i = 0; i < widgets.size(); ++i) widgets[i].id = "w" + std::to_string(i);
  config::Project planning = *project_;
  for (auto& p : planning.dashboards)
    if (p.id == "customers") p.pages[0].widgets = widgets;
  SqlWidgetEquivalents equivalents = declarative_equivalents(planning, engine);
  ASSERT_EQ(equivalents.size(), widgets.size());
  std::stringstream sink;
  Logger log(sink);
  auto rollups =
      Rollups::build(with_equivalents(planning, equivalents), *engine_, log, nullptr, {.min_source_rows = 0, .min_reduction = 2});
  int via_rollup = 0;
  for (json filters : {json::object(), json{{"region", "North"}}, json{{"segment", {"Enterprise", "SMB"}}},
                       json{{"period", {{"from", "2024-02-03"}, {"to", "2024-11-20"}}}, {"region", "East"}}}) {
    auto req = parse_query_request({{"filters", filters}});
    ASSERT_TRUE(req.has_value());
    for (const auto& w : widgets) {
      auto own = plan_widget(d, w, engine, *req, Scope::local_development());
      auto equivalent = equivalents.find("customers/" + w.id);
      ASSERT_NE(equivalent, equivalents.end()) << w.sql;
      auto rows = plan_widget(d, equivalent->second, engine, *req, Scope::local_development());
      auto rolled = plan_widget(d, equivalent->second, engine, *req, Scope::local_development(), rollups.get());
      ASSERT_TRUE(own && rows && rolled) << w.sql;
      if (rolled->read_from.starts_with("__sightline_rollup_")) ++via_rollup;
      json expected = run(own->data);
      // The line chart's SQL orders by segment only: rows of one segment may come in any order;
      // without ORDER BY, in any order at all.
      const bool ordered = w.type != WidgetType::Line && w.sql.find("ORDER BY") != std::string::npos;
      EXPECT_TRUE(same_answer(run(rows->data), expected, ordered)) << w.sql << " " << filters.dump() << "\n"
                                                                   << run(rows->data) << "\n"
                                                                   << expected;
      EXPECT_TRUE(same_answer(run(rolled->data), expected, ordered))
          << w.sql << " " << filters.dump() << " via " << rolled->read_from << "\n"
          << run(rolled->data) << "\n"
          << expected;
      // A table's total count is the own SQL's, however it is planned.
      if (own->count) {
        ASSERT_TRUE(rows->count && rolled->count) << w.sql;
        EXPECT_EQ(run(*rows->count)["rows"], run(*own->count)["rows"]) << w.sql;
        EXPECT_EQ(run(*rolled->count)["rows"], run(*own->count)["rows"]) << w.sql;
      }
    }
  }
  EXPECT_GE(via_rollup, 8) << "rollups answered the equivalents";
}

}  // namespace
}  // namespace sightline::query
