// A test fixture with a fresh in-memory DuckDB (one thread, UTC) and a helper that runs a query
// into Arrow, for tests of code that consumes query results.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/duckdb.h"

namespace sightline::testing {

class DuckDBTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = engine::Database::open(":memory:", {.threads = 1});
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_ = std::move(*db);
    auto conn = engine::Connection::open(*db_);
    ASSERT_TRUE(conn.has_value());
    conn_ = std::move(*conn);
    ASSERT_TRUE(conn_->execute("SET TimeZone = 'UTC'").has_value());
  }
  // The query's result; a failed query fails the test and yields an empty output.
  engine::QueryOutput query(const std::string& sql, int64_t max_rows = 1'000'000) {
    auto out = conn_->query(sql, max_rows);
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message);
    return out ? std::move(*out) : engine::QueryOutput{};
  }
  std::unique_ptr<engine::Database> db_;
  std::unique_ptr<engine::Connection> conn_;
};

}  // namespace sightline::testing
