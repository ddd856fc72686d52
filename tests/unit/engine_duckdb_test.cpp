#include "engine/duckdb.h"

#include <gtest/gtest.h>

#include <thread>

namespace sightline::engine {
namespace {

std::unique_ptr<Connection> connect(Database& db) {
  auto c = Connection::open(db);
  EXPECT_TRUE(c.has_value());
  return std::move(*c);
}

TEST(EngineDuckDB, PreparedStatementBindsEveryParamKind) {
  auto db = Database::open(":memory:", {.threads = 1});
  ASSERT_TRUE(db.has_value()) << db.error().message;
  auto conn = connect(**db);
  auto stmt = conn->prepare("SELECT ?::VARCHAR AS s, ?::BIGINT AS i, ?::DOUBLE AS d, ?::BOOLEAN AS b, ? IS NULL AS n");
  ASSERT_TRUE(stmt.has_value()) << stmt.error().message;
  EXPECT_EQ(stmt->parameter_count(), 5);
  auto out = stmt->execute({std::string("it's'; DROP TABLE x; --"), int64_t{42}, 2.5, true, nullptr}, 10);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_EQ(out->table.num_rows, 1);
  EXPECT_FALSE(out->truncated);
  ASSERT_EQ(out->table.batches.size(), 1u);
  const ArrowArray& batch = *out->table.batches[0];
  ASSERT_EQ(batch.n_children, 5);
  // The string came back verbatim: it was a value, not SQL.
  const ArrowArray* s = batch.children[0];
  auto offsets = static_cast<const int32_t*>(s->buffers[1]);
  std::string value(static_cast<const char*>(s->buffers[2]) + offsets[0], offsets[1] - offsets[0]);
  EXPECT_EQ(value, "it's'; DROP TABLE x; --");
  EXPECT_EQ(std::string(out->table.schema->children[1]->format), "l");
}

TEST(EngineDuckDB, PreparedStatementKnowsItsColumnsBeforeRunning) {
  auto db = Database::open(":memory:", {.threads = 1});
  ASSERT_TRUE(db.has_value());
  auto conn = connect(**db);
  auto stmt = conn->prepare("SELECT 'x' AS s, 1::BIGINT AS i, 1.5::DECIMAL(10,2) AS d WHERE ?::INT > 0");
  ASSERT_TRUE(stmt.has_value()) << stmt.error().message;
  auto cols = stmt->columns();
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].name, "s");
  EXPECT_EQ(cols[1].type, "BIGINT");
  EXPECT_EQ(cols[2].type, "DECIMAL(10,2)");
}

TEST(EngineDuckDB, WrongParameterCountIsAnError) {
  auto db = Database::open(":memory:", {});
  ASSERT_TRUE(db.has_value());
  auto conn = connect(**db);
  auto stmt = conn->prepare("SELECT ?::INT");
  ASSERT_TRUE(stmt.has_value());
  auto out = stmt->execute({}, 10);
  ASSERT_FALSE(out.has_value());
  EXPECT_NE(out.error().message.find("expects 1 parameters"), std::string::npos);
}

TEST(EngineDuckDB, RowCapTruncatesAndSays) {
  auto db = Database::open(":memory:", {.threads = 1});
  ASSERT_TRUE(db.has_value());
  auto conn = connect(**db);
  auto out = conn->query("SELECT range AS i FROM range(10000)", 2500);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_EQ(out->table.num_rows, 2500);
  EXPECT_TRUE(out->truncated);
  int64_t total = 0;
  for (auto& b : out->table.batches) total += b->length;
  EXPECT_EQ(total, 2500);
}

TEST(EngineDuckDB, UnknownColumnNamesTheColumn) {
  auto db = Database::open(":memory:", {});
  ASSERT_TRUE(db.has_value());
  auto conn = connect(**db);
  ASSERT_TRUE(conn->execute("CREATE TABLE t(a INT)").has_value());
  auto stmt = conn->prepare("SELECT nope FROM t");
  ASSERT_FALSE(stmt.has_value());
  // For the author (check, the log): DuckDB's words name the column. For a caller: not a word of them.
  EXPECT_NE(stmt.error().detail.find("nope"), std::string::npos);
  EXPECT_EQ(stmt.error().message.find("nope"), std::string::npos);
  EXPECT_EQ(stmt.error().kind, ErrorKind::SourceFailed);
}

TEST(EngineDuckDB, InterruptStopsALongQueryWithTimeoutKind) {
  auto db = Database::open(":memory:", {.threads = 1});
  ASSERT_TRUE(db.has_value());
  auto conn = connect(**db);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    conn->interrupt();
  });
  auto out = conn->query("SELECT count(*) FROM range(100000000000) a WHERE hash(a.range) % 7 = 3", 10);
  stopper.join();
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().kind, ErrorKind::Timeout);
}

TEST(EngineDuckDB, InvalidSettingIsReported) {
  auto db = Database::open(":memory:", {.memory_limit = "lots"});
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.error().message.find("memory_limit"), std::string::npos);
}

TEST(EngineDuckDB, QuotingDoublesTheQuote) {
  EXPECT_EQ(quote_identifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(quote_literal("it's"), "'it''s'");
}

}  // namespace
}  // namespace sightline::engine
