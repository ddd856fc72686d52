#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "arrow/json_writer.h"
#include "config/project.h"
#include "engine/engine.h"
#include "query/check.h"
#include "query/planner.h"
#include "query/request.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// A small real project (CSV source + dashboard) and its engine, shared by the tests here.
class QueryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("sightline-query-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "dashboards");
    fs::create_directories(*dir_ / "data");
    std::ofstream(*dir_ / "data" / "sales.csv") << "id,day,region,units,price,note\n"
                                                 << "1,2024-01-05,North,3,10.5,plain\n"
                                                 << "2,2024-01-20,South,1,99.0,\"it's\"\n"
                                                 << "3,2024-02-03,North,7,5.25,\n"
                                                 << "4,2024-03-15,East,2,12.0,x\n"
                                                 << "5,2024-03-31,,4,1.0,y\n";
    std::ofstream(*dir_ / "sightline.yaml") << "sources:\n  sales: data/sales.csv\n";
    std::ofstream(*dir_ / "dashboards" / "d.yaml") << R"(source: sales
dimensions: [region, units]
filters:
  - {id: region, type: select, column: region}
  - {id: regions, type: multiselect, column: region}
  - {id: units, type: range, column: units}
  - {id: period, type: daterange, column: day}
  - {id: note, type: text, column: note}
  - {id: defaulted, type: select, column: region, default: North}
widgets:
  - {id: total, type: kpi, measure: {expr: sum(units), as: units}}
  - {id: by_region, type: bar, x: region, y: {expr: sum(units), as: units}}
  - {id: monthly, type: line, x: {column: day, grain: month, as: month}, y: count(*)}
  - {id: rows, type: table, columns: [id, region, units], sort: -units}
  - {id: own, type: kpi, sql: "SELECT count(*) AS n FROM sales WHERE {{ filters }} AND id > 0 OR FALSE AND {{filters}}"}
)";
    auto loaded = config::load_project(*dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : config::format_diagnostic(loaded.diagnostics[0]));
    project_ = new config::Project(std::move(*loaded.project));
    auto built = engine::Engine::build(*project_);
    ASSERT_TRUE(built.engine) << config::format_diagnostic(built.diagnostics[0]);
    engine_ = new std::shared_ptr<const engine::Engine>(built.engine);
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete project_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  const config::DashboardSpec& dash() { return project_->dashboards[0]; }
  const engine::Engine& eng() { return **engine_; }

  // Plans and runs a widget; returns the JSON rows.
  json run(const std::string& widget, const json& body) {
    auto req = parse_query_request(body);
    EXPECT_TRUE(req.has_value()) << req.error().message;
    auto plan = plan_widget(dash(), *dash().find_widget(widget), eng(), *req, Scope::local_development());
    EXPECT_TRUE(plan.has_value()) << plan.error().message;
    auto out = eng().pool().run<engine::QueryOutput>(std::chrono::seconds(5), [&](engine::Connection& c) -> Result<engine::QueryOutput> {
      auto st = c.prepare(plan->data.sql);
      if (!st) return fail(st.error());
      return st->execute(plan->data.params, plan->data.max_rows);
    });
    EXPECT_TRUE(out.has_value()) << out.error().message << "\n" << plan->data.sql;
    auto text = arrow::write_json_rows(out->table);
    EXPECT_TRUE(text.has_value());
    return json::parse(*text)["rows"];
  }

  Error plan_error(const std::string& widget, const json& body) {
    auto req = parse_query_request(body);
    if (!req) return req.error();
    auto plan = plan_widget(dash(), *dash().find_widget(widget), eng(), *req, Scope::local_development());
    EXPECT_FALSE(plan.has_value());
    return plan ? Error{} : plan.error();
  }

  static fs::path* dir_;
  static config::Project* project_;
  static std::shared_ptr<const engine::Engine>* engine_;
};
fs::path* QueryTest::dir_ = nullptr;
config::Project* QueryTest::project_ = nullptr;
std::shared_ptr<const engine::Engine>* QueryTest::engine_ = nullptr;

TEST_F(QueryTest, DefaultsApplyUnlessClearedWithNull) {
  EXPECT_EQ(run("total", json::object())[0][0], 10);  // defaulted: North -> 3 + 7
  EXPECT_EQ(run("total", {{"filters", {{"defaulted", nullptr}}}})[0][0], 17);
}

TEST_F(QueryTest, EachFilterTypeNarrows) {
  json clear = {{"defaulted", nullptr}};
  auto with = [&](json f) {
    json all = clear;
    all.update(f);
    return run("total", {{"filters", all}})[0][0];
  };
  EXPECT_EQ(with({{"region", "South"}}), 1);
  EXPECT_EQ(with({{"regions", {"South", "East"}}}), 3);
  EXPECT_EQ(with({{"regions", {nullptr}}}), 4);  // null picks the rows without a region
  EXPECT_EQ(with({{"units", {2, 4}}}), 9);
  EXPECT_EQ(with({{"units", {nullptr, 2}}}), 3);
  EXPECT_EQ(with({{"period", {{"from", "2024-01-20"}, {"to", "2024-03-15"}}}}), 10);  // both ends inclusive
  EXPECT_EQ(with({{"period", {{"to", "2024-01-31"}}}}), 4);
  EXPECT_EQ(with({{"note", "IT'S"}}), 1);  // case-insensitive contains
  EXPECT_EQ(with({{"regions", json::array()}}), 17);  // an empty multiselect filters nothing
}

TEST_F(QueryTest, InjectionAttemptsAreBoundAsValues) {
  json clear = {{"defaulted", nullptr}};
  for (const char* hostile : {"North' OR '1'='1", "x'); DROP TABLE sales; --", "\" OR 1=1", "North\\"}) {
    json f = clear;
    f["region"] = hostile;
    EXPECT_TRUE(run("total", {{"filters", f}})[0][0].is_null()) << hostile;  // sum over no rows
    auto req = parse_query_request({{"filters", f}});
    auto plan = plan_widget(dash(), *dash().find_widget("total"), eng(), *req, Scope::local_development());
    ASSERT_TRUE(plan.has_value());
    EXPECT_EQ(plan->data.sql.find(hostile), std::string::npos) << "hostile text must never reach SQL";
  }
  EXPECT_EQ(run("total", {{"filters", clear}})[0][0], 17);  // the table is intact
}

TEST_F(QueryTest, SelectionsOnlyOnDeclaredDimensionsAndNotOnTheirOwnWidget) {
  json clear = {{"defaulted", nullptr}};
  EXPECT_EQ(run("total", {{"filters", clear}, {"selections", {{{"column", "units"}, {"range", {3, 7}}}}}})[0][0], 14);
  Error e = plan_error("total", {{"selections", {{{"column", "note"}, {"values", {"x"}}}}}});
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_NE(e.message.find("not a declared dimension"), std::string::npos);
  EXPECT_NE(e.hint.find("region, units"), std::string::npos);
  // A pick made on by_region does not narrow by_region itself.
  json sel = {{{"column", "region"}, {"values", {"North"}}, {"widget", "by_region"}}};
  EXPECT_EQ(run("by_region", {{"filters", clear}, {"selections", sel}}).size(), 4u);
  EXPECT_EQ(run("total", {{"filters", clear}, {"selections", sel}})[0][0], 10);
}

TEST_F(QueryTest, ValueTypesAreCheckedAgainstTheColumn) {
  EXPECT_NE(plan_error("total", {{"filters", {{"region", 5}}}}).message.find("filter 'region': expected text, got a number"), std::string::npos);
  EXPECT_NE(plan_error("total", {{"filters", {{"units", {"a", 2}}}}}).message.find("expected a whole number, got text"), std::string::npos);
  EXPECT_NE(plan_error("total", {{"filters", {{"period", {{"from", "2024-02-30"}}}}}}).message.find("YYYY-MM-DD"), std::string::npos);
  EXPECT_NE(plan_error("total", {{"filters", {{"period", {{"start", "2024-02-01"}}}}}}).message.find("unknown field 'start'"), std::string::npos);
  EXPECT_NE(plan_error("total", {{"filters", {{"units", {5, 1}}}}}).message.find("low end is above"), std::string::npos);
  EXPECT_NE(plan_error("total", {{"filters", {{"regions", json::array({json::object()})}}}}).message.find("got an object"), std::string::npos);
  EXPECT_NE(plan_error("total", {{"filters", {{"ghost", 1}}}}).message.find("unknown filter 'ghost'"), std::string::npos);
}

TEST_F(QueryTest, ChartsGroupAndTimeGrainsAreDates) {
  json clear = {{"filters", {{"defaulted", nullptr}}}};
  json rows = run("by_region", clear);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0][0], "North");  // sorted by the measure, descending
  EXPECT_EQ(rows[0][1], 10);
  json months = run("monthly", clear);
  ASSERT_EQ(months.size(), 3u);
  EXPECT_EQ(months[0][0], "2024-01-01");
  EXPECT_EQ(months[0][1], 2);
}

TEST_F(QueryTest, TablesPageWithStableOrderAndCount) {
  json body = {{"filters", {{"defaulted", nullptr}}}, {"limit", 2}, {"offset", 0}};
  json first = run("rows", body);
  body["offset"] = 2;
  json second = run("rows", body);
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(first[0][0], 3);  // units 7 first (declared sort -units)
  EXPECT_EQ(second[0][2], 3);
  auto req = parse_query_request(body);
  auto plan = plan_widget(dash(), *dash().find_widget("rows"), eng(), *req, Scope::local_development());
  ASSERT_TRUE(plan->count.has_value());
  EXPECT_EQ(plan->count->sql.find("LIMIT"), std::string::npos);
  EXPECT_NE(plan_error("rows", {{"sort", {{{"column", "price"}}}}}).message.find("cannot sort by 'price'"), std::string::npos);
}

TEST_F(QueryTest, CustomSqlGetsThePredicateAtEveryPlaceholder) {
  json rows = run("own", {{"filters", {{"defaulted", nullptr}, {"region", "North"}}}});
  EXPECT_EQ(rows[0][0], 2);
  auto req = parse_query_request({{"filters", {{"region", "North"}}}});
  auto plan = plan_widget(dash(), *dash().find_widget("own"), eng(), *req, Scope::local_development());
  ASSERT_TRUE(plan.has_value());
  // Two placeholders, each with the two predicates (region and the default) -> four parameters.
  EXPECT_EQ(plan->data.params.size(), 4u);
  EXPECT_EQ(plan->data.sql.find("{{"), std::string::npos);
}

TEST_F(QueryTest, FilterOptionsSearchAndBounds) {
  const auto* f = dash().find_filter("region");
  auto st = plan_filter_options(dash(), *f, eng(), "th", 10, Scope::local_development());
  ASSERT_TRUE(st.has_value());
  auto out = eng().pool().run<engine::QueryOutput>(std::chrono::seconds(5), [&](engine::Connection& c) -> Result<engine::QueryOutput> {
    auto s = c.prepare(st->sql);
    if (!s) return fail(s.error());
    return s->execute(st->params, st->max_rows);
  });
  ASSERT_TRUE(out.has_value()) << out.error().message;
  json rows = json::parse(*arrow::write_json_rows(out->table))["rows"];
  EXPECT_EQ(rows, json::parse(R"([["North"],["South"]])"));
}

TEST_F(QueryTest, CacheKeysDifferByParameterTypeAndScope) {
  Statement a{"SELECT ?", {std::string("1")}, 10};
  Statement b{"SELECT ?", {int64_t{1}}, 10};
  Scope s = Scope::local_development();
  EXPECT_NE(a.cache_key(s, 1), b.cache_key(s, 1));
  EXPECT_NE(a.cache_key(s, 1), a.cache_key(s, 2));
  Statement c{"SELECT ?", {std::string("a\x1f" "0b")}, 10};
  Statement d{"SELECT ?", {std::string("a"), std::string("b")}, 10};
  EXPECT_NE(c.cache_key(s, 1), d.cache_key(s, 1));
}

TEST_F(QueryTest, CheckFindsNothingWrongWithAGoodProject) {
  auto diags = check_dashboards(*project_, eng());
  for (const auto& d : diags) ADD_FAILURE() << config::format_diagnostic(d);
}

TEST_F(QueryTest, CheckRefusesMeasuresThatDoNotAggregate) {
  config::Project p = *project_;
  auto& widgets = p.dashboards[0].pages[0].widgets;
  auto measure = [&](const std::string& id) -> config::MeasureSpec& {
    auto it = std::find_if(widgets.begin(), widgets.end(), [&](const config::WidgetSpec& w) { return w.id == id; });
    return it->measures.at(0);
  };
  measure("total").expr = "units";  // a KPI: DuckDB would answer one row's units
  measure("total").pos = {"dashboards/d.yaml", 41, 7};
  measure("by_region").expr = "units";  // GROUP BY ALL would group by units too
  measure("monthly").expr = "42";       // a constant aggregates fine
  measure("monthly").pos = {"dashboards/d.yaml", 43, 7};
  auto& rows = *std::find_if(widgets.begin(), widgets.end(), [](const config::WidgetSpec& w) { return w.id == "rows"; });
  rows.measures.push_back({"sum(units) + price", "spend", "Spend", "", {"dashboards/d.yaml", 44, 7}});
  rows.measures.push_back(
      {"sum(price) * units", "weighted", "Weighted", "", {"dashboards/d.yaml", 45, 7}});  // units is a column of the table

  auto diags = check_dashboards(p, eng());
  std::string text;
  for (const auto& d : diags) text += config::format_diagnostic(d) + "\n";
  EXPECT_EQ(diags.size(), 3u) << text;
  EXPECT_NE(text.find("dashboards/d.yaml:41:7: error: widget 'total': measure 'units' is not an aggregate: a KPI would show the value "
                      "of one arbitrary row\n  hint: did you mean sum(units)?"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("widget 'by_region': measure 'units' is not an aggregate: the chart would plot a point per distinct value"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("dashboards/d.yaml:44:7: error: widget 'rows': measure 'sum(units) + price' is not an aggregate: the table would "
                      "get a row per distinct value instead of one per group\n  hint: aggregate 'price' inside it, e.g. sum(price)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("monthly"), std::string::npos) << text;
  EXPECT_EQ(text.find("sum(price) * units"), std::string::npos) << text;
}

}  // namespace
}  // namespace sightline::query
