// Data checks (engine/data_checks.h) over real DuckDB engines built from temporary projects:
// each rule kind passing and failing, NULLs, unicode column names with spaces, decimals,
// timestamps with and without time zones, severities, max_change against a previous count, and
// the diagnostics of rules that do not fit the data.
#include "engine/data_checks.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/project.h"
#include "engine/engine.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;
using config::CheckSeverity;

// 2026-03-03T10:00:00Z, the "now" of these tests.
constexpr int64_t kNow = 1772532000000;

class DataChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sightline-checks-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    // Six orders: a NULL row, a repeated id, a region outside the list, a negative amount, a
    // malformed sku; a column name with spaces and accents.
    copy("orders.parquet", R"(SELECT * FROM (VALUES
        (1, 'North', 'AB-1', 10.50::DECIMAL(10,2), TIMESTAMPTZ '2026-03-01 10:00:00+00', DATE '2026-03-01', TIMESTAMP '2026-03-01 10:00:00'),
        (2, 'South', 'AB-2', 20.00::DECIMAL(10,2), TIMESTAMPTZ '2026-03-02 10:00:00+00', DATE '2026-03-02', TIMESTAMP '2026-03-02 10:00:00'),
        (2, 'Nord', 'bad', -1.50::DECIMAL(10,2), TIMESTAMPTZ '2026-02-01 10:00:00+00', DATE '2026-02-01', TIMESTAMP '2026-02-01 10:00:00'),
        (NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (3, 'Süd', 'CD-33', 250.00::DECIMAL(10,2), TIMESTAMPTZ '2026-01-15 10:00:00+00', DATE '2026-01-15', TIMESTAMP '2026-01-15 10:00:00'),
        (4, 'North', 'it''s', 99.99::DECIMAL(10,2), TIMESTAMPTZ '2026-03-01 12:00:00+00', DATE '2026-03-01', TIMESTAMP '2026-03-01 12:00:00')
      ) t("order id", "Région du client", sku, amount, "at", "day", naive))");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void copy(const std::string& file, const std::string& select) {
    auto db = Database::open(":memory:", {.threads = 1});
    ASSERT_TRUE(db.has_value());
    auto conn = Connection::open(**db);
    ASSERT_TRUE(conn.has_value());
    auto made = (*conn)->execute("COPY (" + select + ") TO " + quote_literal((dir_ / "data" / file).string()) + " (FORMAT parquet)");
    ASSERT_TRUE(made.has_value()) << made.error().for_author();
  }

  // Loads a project whose source `orders` has `checks` (a YAML flow list) and builds its engine.
  // Returns false (with the diagnostics in loaded_) when the YAML does not load.
  bool load(const std::string& checks, const std::string& head = "",
            const std::string& source = "path: data/orders.parquet, materialize: true") {
    std::ofstream(dir_ / "sightline.yaml") << head << "sources:\n  orders: { " << source << ", checks: " << checks << " }\n";
    auto loaded = config::load_project(dir_, config::system_environment());
    diagnostics_ = loaded.diagnostics;
    if (!loaded.project) return false;
    project_ = std::move(*loaded.project);
    auto built = Engine::build(project_);
    EXPECT_TRUE(built.engine) << (built.diagnostics.empty() ? "" : config::format_diagnostic(built.diagnostics[0]));
    engine_ = built.engine;
    return engine_ != nullptr;
  }
  SourceChecks run(CheckContext context = {.now_ms = kNow}) { return run_checks(*engine_, project_.sources[0], context); }
  // The one rule's result, after checking that the rules fit the data.
  CheckResult one(const std::string& rule, CheckContext context = {.now_ms = kNow}) {
    EXPECT_TRUE(load("[" + rule + "]")) << errors();
    if (!engine_) return {};
    auto problems = validate_checks(project_, *engine_);
    EXPECT_TRUE(problems.empty()) << config::format_diagnostic(problems[0]);
    auto found = run(context);
    EXPECT_EQ(found.results.size(), 1u);
    return found.results.empty() ? CheckResult{} : found.results[0];
  }
  // The errors of validate_checks (or of loading, when the YAML itself is wrong), formatted.
  std::string errors() {
    std::vector<config::Diagnostic> all = diagnostics_;
    if (engine_) {
      auto more = validate_checks(project_, *engine_);
      all.insert(all.end(), more.begin(), more.end());
    }
    std::string out;
    for (const auto& d : all)
      if (d.severity == config::Diagnostic::Severity::Error) out += config::format_diagnostic(d) + "\n";
    return out;
  }
  std::string validation_errors(const std::string& rule) {
    engine_.reset();
    EXPECT_TRUE(load("[" + rule + "]")) << errors();
    return errors();
  }

  fs::path dir_;
  config::Project project_;
  std::vector<config::Diagnostic> diagnostics_;
  std::shared_ptr<const Engine> engine_;
};

TEST_F(DataChecks, NotNullCountsNullsWithoutSamplesAndDefaultsToError) {
  auto failing = one("{ not_null: \"order id\" }");
  EXPECT_EQ(failing.rule, "not_null: order id");
  EXPECT_FALSE(failing.passed);
  EXPECT_TRUE(failing.ran);
  EXPECT_EQ(failing.failing, 1);
  EXPECT_TRUE(failing.samples.empty()) << "every failing value would read NULL";
  EXPECT_EQ(failing.severity, CheckSeverity::Error);
  EXPECT_EQ(failing.ran_at_ms, kNow);
  EXPECT_EQ(failing.failure_text(), "check 'not_null: order id' failed: 1 row");
  EXPECT_EQ(failing.pos.file, "sightline.yaml");
  EXPECT_EQ(failing.pos.line, 2);

  copy("orders.parquet", "SELECT range AS \"order id\" FROM range(10)");
  EXPECT_TRUE(one("{ not_null: \"order id\" }").passed);
}

TEST_F(DataChecks, UniqueCountsTheRowsOfRepeatedKeysIgnoringNulls) {
  auto single = one("{ unique: \"order id\" }");
  EXPECT_FALSE(single.passed);
  EXPECT_EQ(single.failing, 2) << "both rows with id 2; the NULL id is no key";
  EXPECT_EQ(single.samples, (std::vector<std::string>{"2"}));
  EXPECT_EQ(single.failure_text(true), "check 'unique: order id' failed: 2 rows; e.g. '2'");

  auto pair = one("{ unique: [\"order id\", \"Région du client\"] }");
  EXPECT_EQ(pair.rule, "unique: [order id, Région du client]");
  EXPECT_TRUE(pair.passed) << "(2, South) and (2, Nord) differ";

  copy("orders.parquet", "SELECT range % 3 AS a, 'x' AS b FROM range(7)");
  auto repeated = one("{ unique: [a, b], severity: warn }");
  EXPECT_EQ(repeated.failing, 7);
  EXPECT_EQ(repeated.samples, (std::vector<std::string>{"(0, x)", "(1, x)", "(2, x)"}));
  EXPECT_EQ(repeated.severity, CheckSeverity::Warn);
}

TEST_F(DataChecks, AcceptedValuesOverAUnicodeColumnWithSpacesPassNulls) {
  auto r = one("{ accepted_values: { column: \"Région du client\", values: [North, South, East, West] } }");
  EXPECT_EQ(r.rule, "accepted_values: Région du client");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.failing, 2) << "Nord and Süd; the NULL passes";
  EXPECT_EQ(r.samples, (std::vector<std::string>{"Nord", "Süd"}));
  EXPECT_EQ(r.severity, CheckSeverity::Warn) << "accepted_values defaults to warn";
  EXPECT_TRUE(one("{ accepted_values: { column: \"Région du client\", values: [North, South, Nord, Süd] } }").passed);
  // A value from the YAML is a value, never SQL.
  auto hostile = one("{ accepted_values: { column: sku, values: [\"x') OR TRUE OR ('\", \"AB-1\"] } }");
  EXPECT_EQ(hostile.failing, 4);
  // Numbers compare as numbers, in the column's type.
  EXPECT_EQ(one("{ accepted_values: { column: amount, values: [10.5, 20, 99.990, -1.5, 250] } }").failing, 0);
}

TEST_F(DataChecks, AcceptedValuesOverTextStoredAsAnEnum) {
  copy("orders.parquet", "SELECT ['North', 'South', 'Nord'][1 + range % 3] AS region FROM range(300)");
  auto r = one("{ accepted_values: { column: region, values: [North, South] } }");
  EXPECT_EQ(r.failing, 100);
  EXPECT_EQ(r.samples, (std::vector<std::string>{"Nord"}));
}

TEST_F(DataChecks, RangeComparesDecimalsAndTimestampsWithZonesInTheirType) {
  auto amounts = one("{ range: { column: amount, min: 0, max: 100.00 } }");
  EXPECT_FALSE(amounts.passed);
  EXPECT_EQ(amounts.failing, 2);
  EXPECT_EQ(amounts.samples, (std::vector<std::string>{"-1.50", "250.00"}));
  EXPECT_EQ(one("{ range: { column: amount, min: -1.5 } }").failing, 0);
  EXPECT_EQ(one("{ range: { column: amount, max: 99.99 } }").failing, 1);
  // 2026-03-01 12:00+00 is 13:00+01: above a max written in another offset.
  auto at = one("{ range: { column: at, max: \"2026-03-01 12:30:00+01\" } }");
  EXPECT_EQ(at.failing, 2);
  EXPECT_EQ(at.samples, (std::vector<std::string>{"2026-03-01 12:00:00+00", "2026-03-02 10:00:00+00"}));
  EXPECT_EQ(one("{ range: { column: day, min: 2026-02-01 } }").failing, 1);
}

TEST_F(DataChecks, RegexMatchesTheWholeValueAndQuotesThePattern) {
  auto r = one("{ regex: { column: sku, pattern: \"[A-Z]{2}-[0-9]+\" } }");
  EXPECT_EQ(r.failing, 2);
  EXPECT_EQ(r.samples, (std::vector<std::string>{"bad", "it's"}));
  EXPECT_EQ(one("{ regex: { column: sku, pattern: \"[A-Z]{2}-[0-9]\" } }").failing, 3) << "CD-33 does not match as a whole";
  EXPECT_EQ(one("{ regex: { column: sku, pattern: \"it's|[A-Z]{2}-[0-9]+|bad\" } }").failing, 0);
  EXPECT_EQ(one("{ regex: { column: \"order id\", pattern: \"[0-9]\" } }").failing, 0) << "numbers are matched as text";
}

TEST_F(DataChecks, RowCountBoundsAndChangeAgainstThePreviousVersion) {
  EXPECT_TRUE(one("{ row_count: { min: 6, max: 6 } }").passed);
  auto few = one("{ row_count: { min: 10 } }");
  EXPECT_FALSE(few.passed);
  EXPECT_EQ(few.severity, CheckSeverity::Warn);
  EXPECT_EQ(few.failure_text(), "check 'row_count' failed: 6 rows, at least 10 expected");
  EXPECT_EQ(one("{ row_count: { max: 5 } }").detail, "6 rows, at most 5 expected");

  const std::string change = "{ row_count: { max_change: 0.5 }, severity: error }";
  auto first = one(change, {.now_ms = kNow});
  EXPECT_TRUE(first.passed) << "no previous version: skipped";
  EXPECT_EQ(first.detail, "6 rows; no previous version to compare with");
  auto grown = one(change, {.now_ms = kNow, .previous_rows = 3});
  EXPECT_FALSE(grown.passed);
  EXPECT_EQ(grown.severity, CheckSeverity::Error);
  EXPECT_EQ(grown.detail, "6 rows against 3 before (+100%), at most 50% change allowed");
  EXPECT_TRUE(one(change, {.now_ms = kNow, .previous_rows = 4}).passed) << "+50% is allowed";
  EXPECT_TRUE(one(change, {.now_ms = kNow, .previous_rows = 12}).passed) << "-50% is allowed";
  EXPECT_FALSE(one(change, {.now_ms = kNow, .previous_rows = 13}).passed);
  EXPECT_TRUE(one(change, {.now_ms = kNow, .previous_rows = 0}).passed) << "no fraction of nothing";
}

TEST_F(DataChecks, FreshnessOfTimestampsWithZonesDatesAndLocalTimes) {
  // Newest `at`: 2026-03-02 10:00Z, a day before kNow.
  auto fresh = one("{ freshness: { column: at, max_age: 2d } }");
  EXPECT_TRUE(fresh.passed);
  EXPECT_EQ(fresh.detail, "newest value 2026-03-02 10:00:00+00 is 1d old");
  auto stale = one("{ freshness: { column: at, max_age: 12h } }");
  EXPECT_FALSE(stale.passed);
  EXPECT_EQ(stale.failure_text(), "check 'freshness: at' failed: newest value 2026-03-02 10:00:00+00 is 1d old, at most 12h allowed");
  // A date is as old as its midnight: 2026-03-02 00:00Z is 1d 10h before kNow.
  EXPECT_TRUE(one("{ freshness: { column: day, max_age: 34h } }").passed);
  EXPECT_FALSE(one("{ freshness: { column: day, max_age: 33h } }").passed);
  // A local time is read in the project's zone: 2026-03-02 10:00 in Berlin is 09:00Z, 25h old.
  EXPECT_TRUE(load("[{ freshness: { column: naive, max_age: 25h } }]", "timezone: Europe/Berlin\n"));
  EXPECT_TRUE(run().results[0].passed);
  EXPECT_TRUE(load("[{ freshness: { column: naive, max_age: 24h } }]", "timezone: Europe/Berlin\n"));
  EXPECT_FALSE(run().results[0].passed);
  // No values at all is not fresh.
  copy("orders.parquet", "SELECT CAST(NULL AS TIMESTAMP) AS at FROM range(3)");
  auto empty = one("{ freshness: { column: at, max_age: 2d } }");
  EXPECT_FALSE(empty.passed);
  EXPECT_EQ(empty.detail, "no values");
}

TEST_F(DataChecks, SchemaReportsDriftAndExtraColumnsAsTold) {
  const std::string cols =
      "\"order id\": INT, \"Région du client\": VARCHAR, sku: TEXT, amount: \"DECIMAL(10,2)\", at: TIMESTAMPTZ, day: DATE";
  auto extra_warns = one("{ schema: { columns: { " + cols + " } } }");
  EXPECT_FALSE(extra_warns.passed);
  EXPECT_EQ(extra_warns.severity, CheckSeverity::Warn) << "only an extra column, and extra defaults to warn";
  EXPECT_EQ(extra_warns.samples, (std::vector<std::string>{"extra column naive"}));
  EXPECT_TRUE(one("{ schema: { columns: { " + cols + " }, extra: allow } }").passed) << "INT is INTEGER, TEXT is VARCHAR";
  EXPECT_EQ(one("{ schema: { columns: { " + cols + " }, extra: error }, severity: warn }").severity, CheckSeverity::Error);

  auto drift = one("{ schema: { columns: { \"order id\": BIGINT, amount: DOUBLE, gone: DATE }, extra: allow } }");
  EXPECT_FALSE(drift.passed);
  EXPECT_EQ(drift.severity, CheckSeverity::Error);
  EXPECT_EQ(drift.failing, 3);
  EXPECT_EQ(drift.detail, "order id is INTEGER, expected BIGINT; amount is DECIMAL(10,2), expected DOUBLE; missing column gone");
}

TEST_F(DataChecks, SeveritiesAreCountedAndOverridable) {
  ASSERT_TRUE(load(
      "[{ not_null: sku }, { unique: \"order id\", severity: warn }, { accepted_values: { column: sku, values: [x] }, severity: error }, "
      "{ range: { column: amount, min: 0 } }, { row_count: { min: 1 } }]"));
  auto found = run();
  ASSERT_EQ(found.results.size(), 5u);
  EXPECT_EQ(found.source, "orders");
  EXPECT_EQ(found.failing(CheckSeverity::Error), 2) << "not_null by default, accepted_values by choice";
  EXPECT_EQ(found.failing(CheckSeverity::Warn), 2) << "unique by choice, range by default";
  EXPECT_TRUE(found.results[4].passed);
  EXPECT_EQ(found.recipe, checks_recipe(project_.sources[0]));
  EXPECT_EQ(std::string(check_severity_name(CheckSeverity::Warn)), "warn");
}

TEST_F(DataChecks, ARuleThatCannotRunFailsWithTheReason) {
  std::ofstream(dir_ / "data" / "live.csv") << "n\n1\n2\nthree\n";
  ASSERT_TRUE(load("[{ range: { column: n, min: 0 } }]", "", "path: data/live.csv, types: { n: INTEGER }"));
  auto r = run().results.at(0);
  EXPECT_FALSE(r.passed);
  EXPECT_FALSE(r.ran);
  EXPECT_NE(r.detail.find("three"), std::string::npos) << r.detail;
  EXPECT_EQ(r.failure_text().rfind("check 'range: n' could not run: ", 0), 0u) << r.failure_text();
}

TEST_F(DataChecks, RulesThatDoNotFitTheDataArePreciseDiagnostics) {
  EXPECT_EQ(validation_errors("{ not_null: sku_ }"),
            "sightline.yaml:2:80: error: source 'orders' has no column 'sku_'\n  hint: did you mean 'sku'?\n");
  EXPECT_NE(validation_errors("{ unique: [sku, zzz] }").find("has no column 'zzz'\n  hint: its columns: order id, Région du client, sku"),
            std::string::npos);
  EXPECT_NE(validation_errors("{ accepted_values: { column: amount, values: [1, lots] } }")
                .find("error: 'lots' is not a value of column 'amount' (DECIMAL(10,2))"),
            std::string::npos);
  EXPECT_NE(validation_errors("{ range: { column: at, max: yesterday } }").find("'yesterday' is not a value of column 'at'"),
            std::string::npos);
  EXPECT_NE(validation_errors("{ range: { column: amount, min: 5, max: 1 } }").find("has its min above its max"), std::string::npos);
  const std::string regex = validation_errors("{ regex: { column: sku, pattern: \"[A-Z\" } }");
  EXPECT_NE(regex.find("error: '[A-Z' is not a regular expression: missing ]"), std::string::npos) << regex;
  EXPECT_NE(regex.find(":2:"), std::string::npos) << "at the pattern: " << regex;
  EXPECT_NE(
      validation_errors("{ freshness: { column: sku, max_age: 1d } }").find("freshness needs a date or timestamp column; 'sku' is VARCHAR"),
      std::string::npos);
  EXPECT_NE(validation_errors("{ schema: { columns: { sku: VARCHR } } }").find("'VARCHR' is not a type DuckDB knows"), std::string::npos);
  EXPECT_EQ(validation_errors("{ schema: { columns: { gone: DATE } } }"), "") << "a missing column is drift the rule reports";
}

}  // namespace
}  // namespace sightline::engine
