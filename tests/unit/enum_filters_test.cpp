// Filters on text kept as a sorted ENUM (repeated values of a materialized source) are written as
// comparisons with values of that type (query/filters.cpp): a range minus the values inside it
// that were not asked for. The rows they select are checked here against an independent DuckDB
// reading the same CSV as plain text with plain IN lists, for random sets of values: unknown
// values, NULL, one value, all values, many gaps; quotes, commas, unicode and the empty string.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "config/project.h"
#include "engine/engine.h"
#include "query/planner.h"
#include "query/request.h"
#include "query/rollup.h"
#include "statement_runner.h"

namespace sightline::query {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// The values of column `kind`; index 0 is written as an empty field (NULL).
const std::vector<std::string> kKinds = {"", "Alpha", "O'Brien", "Zürich", "東京", "émile", "a,b", "UPPER", "lower",
                                         "with \"quote\"", " padded", "Ölpreis", "Z", "z", "Alpha2", "beta"};
constexpr int kRows = 30'000;
constexpr int kStreets = 4'000;  // values of the DuckDB file's own ENUM: more than an answer's dictionary may hold

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

class EnumFilters : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("sightline-enum-filters-" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "dashboards");
    fs::create_directories(*dir_ / "data");
    {
      std::ofstream csv(*dir_ / "data" / "items.csv");
      csv << "id,kind,side,units\n";
      for (int i = 0; i < kRows; ++i)
        csv << i << ',' << csv_field(kKinds[(i * 7 + i / 13) % kKinds.size()]) << ',' << (i % 3 == 0 ? "left" : i % 3 == 1 ? "right" : "")
            << ',' << (i % 11) << '\n';
    }
    {
      // A DuckDB file whose table has its own ENUM of kStreets values.
      auto db = engine::Database::open((*dir_ / "data" / "streets.duckdb").string(), {.threads = 1});
      ASSERT_TRUE(db.has_value());
      auto conn = engine::Connection::open(**db);
      ASSERT_TRUE(conn.has_value());
      ASSERT_TRUE((*conn)->execute("CREATE TYPE street_name AS ENUM (SELECT 'Straße ' || range || CASE WHEN range % 5 = 0 THEN ', Süd' ELSE '' END "
                                   "FROM range(" + std::to_string(kStreets) + ") ORDER BY 1)"));
      ASSERT_TRUE((*conn)->execute("CREATE TABLE streets AS SELECT range AS id, CASE WHEN range % 17 = 0 THEN NULL ELSE CAST('Straße ' || "
                                   "(range * 7919 % " + std::to_string(kStreets) + ") || CASE WHEN (range * 7919 % " + std::to_string(kStreets) +
                                   ") % 5 = 0 THEN ', Süd' ELSE '' END AS street_name) END AS street, range % 11 AS units FROM range(30000)"));
      ASSERT_TRUE((*conn)->execute("COPY streets TO " + engine::quote_literal((*dir_ / "data" / "streets.csv").string()) + " (HEADER)"));
    }
    std::ofstream(*dir_ / "sightline.yaml") << "sources:\n  items: { path: data/items.csv, materialize: true }\n"
                                               "  streets: { path: data/streets.duckdb, table: streets }\n";
    std::ofstream(*dir_ / "dashboards" / "s.yaml") << R"(id: streets
source: streets
dimensions: [street]
widgets:
  - {id: top_streets, type: bar, x: street, y: {expr: sum(units), as: units}, sort: -y, limit: 20}
  - {id: by_street, type: table, columns: [street, id], sort: street}
)";
    std::ofstream(*dir_ / "dashboards" / "d.yaml") << R"(source: items
dimensions: [kind, side]
filters:
  - {id: kinds, type: multiselect, column: kind}
  - {id: one_kind, type: select, column: kind}
  - {id: side, type: select, column: side}
widgets:
  - {id: by_kind, type: bar, x: kind, y: {expr: sum(units), as: units}}
  - {id: total, type: kpi, measure: {expr: count(*), as: n}}
  - {id: shouting, type: kpi, sql: "SELECT count(*) AS n FROM (SELECT upper(kind) AS kind, side FROM items) AS t WHERE {{ filters }}"}
  - {id: kinds_table, type: table, columns: [kind, units]}
)";
    // A second dashboard over the same source whose table shows the unique id.
    std::ofstream(*dir_ / "dashboards" / "e.yaml") << R"(id: items_by_id
source: items
widgets:
  - {id: rows, type: table, columns: [id, kind], sort: kind}
)";
    auto loaded = config::load_project(*dir_, config::system_environment());
    ASSERT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : config::format_diagnostic(loaded.diagnostics[0]));
    project_ = new config::Project(std::move(*loaded.project));
    auto built = engine::Engine::build(*project_);
    ASSERT_TRUE(built.engine) << config::format_diagnostic(built.diagnostics[0]);
    engine_ = new std::shared_ptr<const engine::Engine>(built.engine);
    std::ostringstream sink;
    Logger log(sink);
    rollups_ = new std::shared_ptr<const Rollups>(Rollups::build(*project_, built.engine, log, nullptr, {.min_source_rows = 1'000}));
    // The oracle: another DuckDB reading the CSV as it is.
    auto db = engine::Database::open(":memory:", {.threads = 1});
    ASSERT_TRUE(db.has_value());
    oracle_db_ = (*db).release();
    auto conn = engine::Connection::open(*oracle_db_);
    ASSERT_TRUE(conn.has_value());
    oracle_ = (*conn).release();
    ASSERT_TRUE(oracle_->execute("CREATE TABLE items AS SELECT * FROM read_csv(" + engine::quote_literal((*dir_ / "data" / "items.csv").string()) +
                                 ", all_varchar = true)"));
  }
  static void TearDownTestSuite() {
    delete oracle_;
    delete oracle_db_;
    delete rollups_;
    delete engine_;
    delete project_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  const config::DashboardSpec& dash() { return project_->dashboards[0]; }

  // Rows of `kind` (and units per kind) where the oracle's condition holds.
  json oracle(const std::string& where) {
    auto out = oracle_->query("SELECT kind, sum(CAST(units AS BIGINT)) AS units FROM items WHERE " + where +
                                  " GROUP BY ALL ORDER BY kind NULLS LAST",
                              1000);
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message) << "\n" << where;
    return out ? json::parse(*arrow::write_json_rows(out->table))["rows"] : json();
  }
  json answer(const json& body, bool use_rollups, std::string* read_from = nullptr) {
    auto req = parse_query_request(body);
    EXPECT_TRUE(req.has_value());
    auto plan = plan_widget(dash(), *dash().find_widget("by_kind"), **engine_, *req, Scope::local_development(),
                            use_rollups ? rollups_->get() : nullptr);
    EXPECT_TRUE(plan.has_value()) << (plan ? "" : plan.error().message);
    if (!plan) return json();
    if (read_from) *read_from = plan->read_from;
    last_sql_ = plan->data.sql;
    json rows = testing::run_statement(**engine_, plan->data)["rows"];
    // Sorted as the oracle sorts: by kind, NULL last (the widget orders by its measure).
    std::vector<json> v(rows.begin(), rows.end());
    std::sort(v.begin(), v.end(), [](const json& a, const json& b) {
      if (a[0].is_null() != b[0].is_null()) return b[0].is_null();
      return !a[0].is_null() && a[0].get<std::string>() < b[0].get<std::string>();
    });
    return json(v);
  }

  std::string last_sql_;  // the data statement of the last answer()
  static fs::path* dir_;
  static config::Project* project_;
  static std::shared_ptr<const engine::Engine>* engine_;
  static std::shared_ptr<const Rollups>* rollups_;
  static engine::Database* oracle_db_;
  static engine::Connection* oracle_;
};
fs::path* EnumFilters::dir_ = nullptr;
config::Project* EnumFilters::project_ = nullptr;
std::shared_ptr<const engine::Engine>* EnumFilters::engine_ = nullptr;
std::shared_ptr<const Rollups>* EnumFilters::rollups_ = nullptr;
engine::Database* EnumFilters::oracle_db_ = nullptr;
engine::Connection* EnumFilters::oracle_ = nullptr;

// The oracle's IN list for `values` (JSON strings and nulls).
std::string oracle_in(const std::string& column, const json& values) {
  std::string list, with_null;
  for (const auto& v : values) {
    if (v.is_null())
      with_null = " OR " + column + " IS NULL";
    else
      list += (list.empty() ? "" : ", ") + engine::quote_literal(v.get<std::string>());
  }
  return "(" + (list.empty() ? std::string("FALSE") : column + " IN (" + list + ")") + with_null + ")";
}

TEST_F(EnumFilters, TheColumnIsASortedEnumSoTheComparisonsAreUsed) {
  const engine::Relation* rel = (*engine_)->relation("items");
  ASSERT_NE(rel, nullptr);
  const engine::ColumnInfo* kind = rel->column("kind");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->type, "VARCHAR");  // text to everyone above the engine
  ASSERT_TRUE(kind->dictionary);
  EXPECT_EQ(kind->dictionary->size(), kKinds.size() - 1);  // every value but NULL
  EXPECT_TRUE(std::is_sorted(kind->dictionary->begin(), kind->dictionary->end()));
  EXPECT_TRUE(kind->enum_type.starts_with("ENUM("));
  // A set with one gap is a range and one exclusion, over the rows and over a rollup.
  auto req = parse_query_request(json{{"filters", {{"kinds", {"Alpha", "Z", "Zürich"}}}}});
  ASSERT_TRUE(req.has_value());
  auto preds = compile_predicates(dash(), *rel, *req, "by_kind");
  ASSERT_TRUE(preds.has_value());
  ASSERT_EQ(preds->size(), 1u);
  EXPECT_NE((*preds)[0].sql.find("\"kind\" >= CAST(? AS ENUM("), std::string::npos) << (*preds)[0].sql;
  EXPECT_NE((*preds)[0].sql.find("\"kind\" <> CAST(? AS ENUM("), std::string::npos) << (*preds)[0].sql;
  std::string read_from;
  answer({{"filters", {{"kinds", {"Alpha", "Z"}}}}}, true, &read_from);
  EXPECT_NE(read_from.find("rollup"), std::string::npos) << read_from;
}

// Uniqueness is looked for in the tables of every dashboard over a source, not only the first's.
TEST_F(EnumFilters, UniqueColumnsComeFromEveryDashboardsTables) {
  EXPECT_EQ((*rollups_)->unique_columns("items"), std::set<std::string>{"id"});
}

TEST_F(EnumFilters, RandomSetsSelectTheRowsAnInListOfTextSelects) {
  std::mt19937 rng(20261206);
  std::vector<json> pool;
  for (size_t i = 1; i < kKinds.size(); ++i) pool.emplace_back(kKinds[i]);
  for (const char* unknown : {"Nowhere", "alpha", "Z ", "zz"}) pool.emplace_back(unknown);
  pool.emplace_back(nullptr);
  int rollup_answers = 0, code_lists = 0, unions = 0;
  for (int round = 0; round < 120; ++round) {
    json values = json::array();
    const int k = std::uniform_int_distribution<int>(1, round % 10 == 0 ? static_cast<int>(pool.size()) : 6)(rng);
    for (int i = 0; i < k; ++i) values.push_back(pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)]);
    const json side = round % 3 == 0 ? json("left") : round % 3 == 1 ? json(nullptr) : json("Nowhere");
    const std::string side_sql = side.is_null() ? "TRUE" : "side = " + engine::quote_literal(side.get<std::string>());
    bool with_rollups = round % 2 == 0;
    std::string read_from;
    // As a multiselect filter.
    json body = {{"filters", {{"kinds", values}, {"side", side}}}};
    EXPECT_EQ(answer(body, with_rollups, &read_from), oracle(oracle_in("kind", values) + " AND " + side_sql)) << body.dump();
    rollup_answers += read_from.find("rollup") != std::string::npos;
    code_lists += last_sql_.find("enum_code(\"kind\") IN (") != std::string::npos;
    unions += last_sql_.find("UNION ALL SELECT * FROM") != std::string::npos;
    // As a cross-filter selection from another widget.
    json selection = {{"selections", json::array({{{"column", "kind"}, {"values", values}, {"widget", "total"}}})}};
    EXPECT_EQ(answer(selection, with_rollups), oracle(oracle_in("kind", values))) << selection.dump();
    // As a single-select filter.
    const json& one = values[0];
    if (!one.is_null()) {
      json single = {{"filters", {{"one_kind", one}}}};
      EXPECT_EQ(answer(single, with_rollups), oracle("kind = " + engine::quote_literal(one.get<std::string>()))) << single.dump();
    }
  }
  EXPECT_GT(rollup_answers, 20);  // the rollup path was exercised, not only the rows
  // So were values far apart in the type's order: by their codes, and over the rows one scan per
  // value (a few values, no NULL among them).
  EXPECT_GT(code_lists, 10);
  EXPECT_GT(unions, 5);
}

// Own SQL may give a filtered column another meaning: there the filter compares text as text
// (a range over the ENUM's values would select upper-case text it does not hold).
TEST_F(EnumFilters, OwnSqlComparesTheTextItComputes) {
  auto req = parse_query_request(json{{"filters", {{"kinds", {"ALPHA", "Z"}}}}});
  ASSERT_TRUE(req.has_value());
  auto plan = plan_widget(dash(), *dash().find_widget("shouting"), **engine_, *req, Scope::local_development(), nullptr);
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  EXPECT_EQ(plan->data.sql.find("ENUM("), std::string::npos) << plan->data.sql;
  json rows = testing::run_statement(**engine_, plan->data)["rows"];
  auto expected = oracle_->query("SELECT count(*) FROM items WHERE upper(kind) IN ('ALPHA', 'Z')", 1);
  ASSERT_TRUE(expected.has_value());
  json want = json::parse(*arrow::write_json_rows(expected->table))["rows"];
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], want[0][0]);
  EXPECT_GT(rows[0][0].get<int64_t>(), 0);
}

// Text with many values is kept as an ENUM too (grouped and sorted by its codes); answers carry it
// as text, not as a dictionary of every street name, in the order the statement gives.
TEST_F(EnumFilters, AnEnumWithManyValuesIsAnsweredAsText) {
  auto stored = (*engine_)->pool().run<engine::QueryOutput>(std::chrono::seconds(10), [](engine::Connection& c) {
    return c.query("SELECT typeof(street) FROM streets LIMIT 1", 1);
  });
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  EXPECT_TRUE(json::parse(*arrow::write_json_rows(stored->table))["rows"][0][0].get<std::string>().starts_with("ENUM(")) << "kept as codes";
  const engine::ColumnInfo* street = (*engine_)->relation("streets")->column("street");
  ASSERT_NE(street, nullptr);
  EXPECT_EQ(street->type, "VARCHAR");
  EXPECT_FALSE(street->dictionary) << "too many values to spell out in a filter";
  const config::DashboardSpec& streets = *project_->find_dashboard("streets");
  auto answer_of = [&](const std::string& widget, const json& body) {
    auto plan = plan_widget(streets, *streets.find_widget(widget), **engine_, *parse_query_request(body), Scope::local_development(), nullptr);
    EXPECT_TRUE(plan.has_value()) << (plan ? "" : plan.error().message);
    auto out = (*engine_)->pool().run<engine::QueryOutput>(std::chrono::seconds(10), [&](engine::Connection& c) -> Result<engine::QueryOutput> {
      auto st = c.prepare(plan->data.sql);
      if (!st) return fail(st.error());
      return st->execute(plan->data.params, plan->data.max_rows);
    });
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message) << "\n" << plan->data.sql;
    return out ? std::move(*out) : engine::QueryOutput{};
  };
  auto rows_of = [](const engine::QueryOutput& out) { return json::parse(*arrow::write_json_rows(out.table))["rows"]; };
  // The top 20 by a measure, as plain text (no dictionary of 4,000 values), in the order the
  // statement gives.
  engine::QueryOutput top = answer_of("top_streets", json::object());
  ASSERT_EQ(top.columns.size(), 2u);
  EXPECT_EQ(top.columns[0].type, "VARCHAR");
  EXPECT_STREQ(top.table.schema->children[0]->format, "u") << "plain text";
  EXPECT_EQ(top.table.schema->children[0]->dictionary, nullptr);
  auto want = oracle_->query("SELECT street, sum(units) AS units FROM read_csv(" +
                                 engine::quote_literal((*dir_ / "data" / "streets.csv").string()) +
                                 ") GROUP BY ALL ORDER BY units DESC LIMIT 20",
                             20);
  ASSERT_TRUE(want.has_value());
  json got = rows_of(top), expected = rows_of(*want);
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i][1], expected[i][1]) << i;  // the same totals in the same order
  // A table sorted by the street (the ENUM's order is the text's), a page deep in.
  engine::QueryOutput page = answer_of("by_street", json{{"offset", 7'000}, {"limit", 300}});
  EXPECT_STREQ(page.table.schema->children[0]->format, "u");
  auto oracle_page = oracle_->query("SELECT street, id FROM read_csv(" + engine::quote_literal((*dir_ / "data" / "streets.csv").string()) +
                                        ") ORDER BY street NULLS LAST, id LIMIT 300 OFFSET 7000",
                                    300);
  ASSERT_TRUE(oracle_page.has_value());
  EXPECT_EQ(rows_of(page), rows_of(*oracle_page));
}

}  // namespace
}  // namespace sightline::query
