#include "demo/demo_data.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "engine/duckdb.h"

namespace sightline::demo {
namespace {

namespace fs = std::filesystem;
using Rows = std::vector<std::vector<std::string>>;

constexpr int64_t kRows = 20'000;

fs::path unique_temp_dir() {
  return fs::temp_directory_path() /
         ("sightline_demo_test_" + std::to_string(::getpid()) + "_" +
          std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
}

// Runs `sql` and returns every cell as text ("NULL" for nulls): the query is wrapped so that all
// columns arrive as VARCHAR.
Rows query_text(engine::Connection& conn, const std::string& sql) {
  auto out = conn.query("SELECT COLUMNS(*)::VARCHAR FROM (" + sql + ")", 1'000'000);
  EXPECT_TRUE(out.has_value()) << sql << "\n" << (out ? "" : out.error().message);
  Rows rows;
  if (!out) return rows;
  for (const auto& owned : out->table.batches) {
    const ArrowArray& batch = *owned;
    for (int64_t r = 0; r < batch.length; ++r) {
      std::vector<std::string> row;
      for (int64_t c = 0; c < batch.n_children; ++c) {
        const ArrowArray* col = batch.children[c];
        EXPECT_EQ(std::string(out->table.schema->children[c]->format), "u");
        const int64_t at = batch.offset + col->offset + r;
        const auto* validity = static_cast<const uint8_t*>(col->buffers[0]);
        if (validity && !(validity[at / 8] & (1u << (at % 8)))) {
          row.emplace_back("NULL");
          continue;
        }
        const auto* offsets = static_cast<const int32_t*>(col->buffers[1]);
        row.emplace_back(static_cast<const char*>(col->buffers[2]) + offsets[at], offsets[at + 1] - offsets[at]);
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

// The single value of a one-row, one-column query.
std::string scalar(engine::Connection& conn, const std::string& sql) {
  Rows rows = query_text(conn, sql);
  EXPECT_EQ(rows.size(), 1u) << sql;
  if (rows.empty() || rows[0].empty()) return "<no rows>";
  return rows[0][0];
}

std::string orders_source(const fs::path& dir) {
  return "read_parquet(" + engine::quote_literal((dir / "orders" / "**" / "*.parquet").string()) +
         ", hive_partitioning = true)";
}

// One row of hashes (one per column) over all rows: equal for equal multisets of rows.
std::vector<std::string> fingerprint(engine::Connection& conn, const fs::path& dir) {
  Rows orders = query_text(conn, "SELECT count(*), sum(hash(COLUMNS(*))) FROM " + orders_source(dir));
  Rows customers = query_text(
      conn, "SELECT count(*), sum(hash(COLUMNS(*))) FROM read_csv(" +
                engine::quote_literal((dir / "customers.csv").string()) + ", header = true)");
  std::vector<std::string> out;
  if (orders.size() == 1) out.insert(out.end(), orders[0].begin(), orders[0].end());
  if (customers.size() == 1) out.insert(out.end(), customers[0].begin(), customers[0].end());
  return out;
}

class DemoData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = unique_temp_dir();
    fs::create_directories(base_);
    auto summary = generate_demo_data({.rows = kRows, .out_dir = base_ / "a", .seed = 42, .threads = 2});
    ASSERT_TRUE(summary.has_value()) << summary.error().message;
    summary_ = *summary;
    auto db = engine::Database::open(":memory:", {.threads = 2});
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(*db);
    auto conn = engine::Connection::open(*db_);
    ASSERT_TRUE(conn.has_value()) << conn.error().message;
    conn_ = std::move(*conn);
    auto view = conn_->execute("CREATE VIEW orders AS SELECT * FROM " + orders_source(base_ / "a"));
    ASSERT_TRUE(view.has_value()) << view.error().message;
  }
  static void TearDownTestSuite() {
    conn_.reset();
    db_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  void SetUp() override { ASSERT_TRUE(conn_) << "suite setup failed"; }

  static std::string q(const std::string& sql) { return scalar(*conn_, sql); }

  static inline fs::path base_;
  static inline DemoDataSummary summary_{};
  static inline std::unique_ptr<engine::Database> db_;
  static inline std::unique_ptr<engine::Connection> conn_;
};

TEST_F(DemoData, SummaryDescribesWhatWasWritten) {
  EXPECT_EQ(summary_.rows, kRows);
  int64_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(base_ / "a" / "orders")) {
    if (entry.is_regular_file() && entry.path().extension() == ".parquet") ++files;
  }
  EXPECT_EQ(summary_.files, files);
  EXPECT_GE(files, 36);  // at least one file per month
  EXPECT_EQ(summary_.first_date, q("SELECT min(order_date) FROM orders"));
  EXPECT_EQ(summary_.last_date, q("SELECT max(order_date) FROM orders"));
  EXPECT_EQ(summary_.first_date, "2023-01-01");
  EXPECT_EQ(summary_.last_date, "2025-12-31");
  EXPECT_GT(summary_.seconds, 0.0);
  // Only the final outputs remain: no temp or old directories beside them.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(base_ / "a")) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"customers.csv", "orders"}));
}

TEST_F(DemoData, RowCountAndOrderIds) {
  EXPECT_EQ(q("SELECT count(*) FROM orders"), std::to_string(kRows));
  EXPECT_EQ(q("SELECT count(DISTINCT order_id) FROM orders"), std::to_string(kRows));
  EXPECT_EQ(q("SELECT min(order_id) FROM orders"), "1");
  EXPECT_EQ(q("SELECT max(order_id) FROM orders"), std::to_string(kRows));
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE order_id IS NULL"), "0");
}

TEST_F(DemoData, ColumnNamesAndTypes) {
  Rows cols = query_text(*conn_, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(" +
                                     engine::quote_literal((base_ / "a" / "orders" / "**" / "*.parquet").string()) +
                                     ", hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER}))");
  Rows expected = {{"order_id", "BIGINT"},      {"order_date", "DATE"},
                   {"region", "VARCHAR"},       {"country", "VARCHAR"},
                   {"channel", "VARCHAR"},      {"category", "VARCHAR"},
                   {"product", "VARCHAR"},      {"customer", "VARCHAR"},
                   {"units", "INTEGER"},        {"unit_price", "DECIMAL(10,2)"},
                   {"discount", "DOUBLE"},      {"revenue", "DECIMAL(12,2)"}};
  ASSERT_EQ(cols.size(), expected.size() + 2);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(cols[i], expected[i]) << "column " << i;
  // The partition columns follow, in either order.
  std::vector<std::vector<std::string>> tail(cols.begin() + expected.size(), cols.end());
  std::sort(tail.begin(), tail.end());
  EXPECT_EQ(tail, (Rows{{"month", "INTEGER"}, {"year", "INTEGER"}}));
  // year and month live only in the directory names, not inside the files.
  EXPECT_EQ(q("SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet(" +
              engine::quote_literal((base_ / "a" / "orders" / "**" / "*.parquet").string()) +
              ", hive_partitioning = false))"),
            "12");
}

TEST_F(DemoData, PartitionsMatchOrderDate) {
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE year <> year(order_date) OR month <> month(order_date)"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE order_date < DATE '2023-01-01' OR order_date > DATE '2025-12-31'"),
            "0");
  EXPECT_EQ(q("SELECT count(DISTINCT (year, month)) FROM orders"), "36");
  const std::regex year_dir("year=(2023|2024|2025)"), month_dir("month=([1-9]|1[0-2])");
  int months = 0;
  for (const auto& y : fs::directory_iterator(base_ / "a" / "orders")) {
    EXPECT_TRUE(std::regex_match(y.path().filename().string(), year_dir)) << y.path();
    for (const auto& m : fs::directory_iterator(y.path())) {
      EXPECT_TRUE(std::regex_match(m.path().filename().string(), month_dir)) << m.path();
      ++months;
    }
  }
  EXPECT_EQ(months, 36);
}

TEST_F(DemoData, ShapeOverTime) {
  // Growth: each year has more orders than the one before; November and December peak.
  Rows years = query_text(*conn_, "SELECT count(*) FROM orders GROUP BY year ORDER BY year");
  ASSERT_EQ(years.size(), 3u);
  EXPECT_LT(std::stoll(years[0][0]), std::stoll(years[1][0]));
  EXPECT_LT(std::stoll(years[1][0]), std::stoll(years[2][0]));
  EXPECT_EQ(q("SELECT string_agg(month::VARCHAR, ',' ORDER BY n DESC) FROM (SELECT month, count(*) AS n FROM orders "
              "WHERE year = 2024 GROUP BY month ORDER BY n DESC LIMIT 2)"),
            "12,11");
  // order_id grows with order_date.
  EXPECT_EQ(q("SELECT count(*) FROM (SELECT order_date < lag(order_date) OVER (ORDER BY order_id) AS back "
              "FROM orders) WHERE back"),
            "0");
}

TEST_F(DemoData, RegionsCountriesAndDimensions) {
  EXPECT_EQ(q("SELECT string_agg(DISTINCT region, ',' ORDER BY region) FROM orders"),
            "Central,East,North,South,West");
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE region IS NULL OR country IS NULL"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM (SELECT country FROM orders GROUP BY country HAVING count(DISTINCT region) > 1)"),
            "0");
  int64_t countries = std::stoll(q("SELECT count(DISTINCT country) FROM orders"));
  EXPECT_GE(countries, 20);
  EXPECT_LE(countries, 25);
  // Skew: the biggest region has clearly more orders than the smallest.
  EXPECT_EQ(q("SELECT max(n) > 2 * min(n) FROM (SELECT count(*) AS n FROM orders GROUP BY region)"), "true");
  EXPECT_EQ(q("SELECT string_agg(DISTINCT channel, ',' ORDER BY channel) FROM orders"),
            "Direct,Online,Partner,Retail");
  EXPECT_EQ(q("SELECT count(DISTINCT category) FROM orders"), "8");
  EXPECT_EQ(q("SELECT count(*) FROM (SELECT product FROM orders GROUP BY product HAVING count(DISTINCT category) > 1)"),
            "0");
  int64_t products = std::stoll(q("SELECT count(DISTINCT product) FROM orders"));
  EXPECT_GT(products, 1000);
  EXPECT_LE(products, 2000);
  // Zipf-like: the top 1% of products take a large share of the orders.
  EXPECT_EQ(q("SELECT sum(n) FILTER (WHERE rk <= 20) > 0.15 * sum(n) FROM "
              "(SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rk FROM orders GROUP BY product)"),
            "true");
}

TEST_F(DemoData, ValuesAndRevenue) {
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE units < 1 OR units > 50 OR units IS NULL"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE discount < 0 OR discount > 0.4"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE unit_price IS NULL OR unit_price <= 0"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM orders WHERE revenue IS NULL OR "
              "revenue <> round(units * unit_price * (1 - coalesce(discount, 0)), 2)"),
            "0");
  // Mostly small orders and mostly no discount.
  EXPECT_EQ(q("SELECT avg((units <= 5)::INT) > 0.7 FROM orders"), "true");
  EXPECT_EQ(q("SELECT avg((discount = 0)::INT) > 0.5 FROM orders"), "true");
  // Each product's prices stay close to one base price.
  EXPECT_EQ(q("SELECT max(hi / lo) < 1.2 FROM (SELECT max(unit_price) AS hi, min(unit_price) AS lo FROM orders "
              "GROUP BY product)"),
            "true");
}

TEST_F(DemoData, DirtyDataNulls) {
  auto rate = [](const std::string& column) {
    return std::stod(q("SELECT avg((" + column + " IS NULL)::INT) FROM orders"));
  };
  EXPECT_GT(rate("discount"), 0.01);
  EXPECT_LT(rate("discount"), 0.03);
  EXPECT_GT(rate("customer"), 0.005);
  EXPECT_LT(rate("customer"), 0.015);
  EXPECT_GT(rate("channel"), 0.001);
  EXPECT_LT(rate("channel"), 0.01);
}

TEST_F(DemoData, CustomersCsv) {
  std::string csv = "read_csv(" + engine::quote_literal((base_ / "a" / "customers.csv").string()) + ", header = true)";
  Rows cols = query_text(*conn_, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM " + csv + ")");
  EXPECT_EQ(cols, (Rows{{"customer", "VARCHAR"},
                        {"segment", "VARCHAR"},
                        {"signup_date", "DATE"},
                        {"account_manager", "VARCHAR"}}));
  int64_t customers = std::stoll(q("SELECT count(*) FROM " + csv));
  EXPECT_GE(customers, 40'000);
  EXPECT_LE(customers, 60'000);
  EXPECT_EQ(q("SELECT count(DISTINCT customer) FROM " + csv), std::to_string(customers));
  EXPECT_EQ(q("SELECT string_agg(DISTINCT segment, ',' ORDER BY segment) FROM " + csv), "Consumer,Enterprise,SMB");
  EXPECT_EQ(q("SELECT count(*) FROM " + csv + " WHERE NOT regexp_full_match(account_manager, 'am[0-9]+@example\\.com')"),
            "0");
  // Every customer in the orders is in the dimension table.
  EXPECT_EQ(q("SELECT count(*) FROM (SELECT DISTINCT customer FROM orders WHERE customer IS NOT NULL) o "
              "ANTI JOIN " + csv + " c USING (customer)"),
            "0");
}

TEST_F(DemoData, SameSeedSameRowsOtherSeedOtherRows) {
  auto again = generate_demo_data({.rows = kRows, .out_dir = base_ / "b", .seed = 42, .threads = 1});
  ASSERT_TRUE(again.has_value()) << again.error().message;
  auto other = generate_demo_data({.rows = kRows, .out_dir = base_ / "c", .seed = 7, .threads = 2});
  ASSERT_TRUE(other.has_value()) << other.error().message;
  auto a = fingerprint(*conn_, base_ / "a");
  auto b = fingerprint(*conn_, base_ / "b");
  auto c = fingerprint(*conn_, base_ / "c");
  ASSERT_EQ(a.size(), 14u + 1u + 4u + 1u);
  EXPECT_EQ(a, b);  // same rows, even with a different thread count
  EXPECT_NE(a, c);
  // Row-level check too: no row of one run is missing from the other.
  std::string sa = orders_source(base_ / "a"), sb = orders_source(base_ / "b");
  EXPECT_EQ(q("SELECT count(*) FROM (SELECT * FROM " + sa + " EXCEPT ALL SELECT * FROM " + sb + ")"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM (SELECT * FROM " + sb + " EXCEPT ALL SELECT * FROM " + sa + ")"), "0");
}

TEST_F(DemoData, ReplacesAnExistingDataSet) {
  const fs::path dir = base_ / "replace";
  ASSERT_TRUE(generate_demo_data({.rows = 1'000, .out_dir = dir, .threads = 1}).has_value());
  // A file that only the old data set has must not survive the replacement.
  const fs::path stray = dir / "orders" / "year=2023" / "month=1" / "stray.parquet";
  fs::copy_file(*fs::recursive_directory_iterator(dir / "orders" / "year=2024" / "month=1"), stray);
  auto second = generate_demo_data({.rows = 500, .out_dir = dir, .threads = 1});
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_FALSE(fs::exists(stray));
  EXPECT_EQ(q("SELECT count(*) FROM " + orders_source(dir)), "500");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"customers.csv", "orders"}));
}

TEST(DemoDataOptions, RejectsBadOptions) {
  const fs::path dir = unique_temp_dir();
  auto no_rows = generate_demo_data({.rows = 0, .out_dir = dir});
  ASSERT_FALSE(no_rows.has_value());
  EXPECT_EQ(no_rows.error().kind, ErrorKind::InvalidInput);
  auto no_dir = generate_demo_data({.rows = 10, .out_dir = {}});
  ASSERT_FALSE(no_dir.has_value());
  EXPECT_EQ(no_dir.error().kind, ErrorKind::InvalidInput);
  auto bad_threads = generate_demo_data({.rows = 10, .out_dir = dir, .threads = -1});
  ASSERT_FALSE(bad_threads.has_value());
  EXPECT_EQ(bad_threads.error().kind, ErrorKind::InvalidInput);
  EXPECT_FALSE(fs::exists(dir));  // nothing was created for invalid options
}

}  // namespace
}  // namespace sightline::demo
