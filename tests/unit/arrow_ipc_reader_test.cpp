// The Arrow IPC stream reader (rows received over HTTP): a stream written from DuckDB results
// reads back into DuckDB with the same values, every type it reads included; streams cut at
// every length and with bytes changed at random are refused or read, never crash, and what is
// read DuckDB can scan. (apache-arrow JS writes the streams of tests/integration/ingest_arrow.)
#include "arrow/ipc_reader.h"

#include <gtest/gtest.h>

#include <random>

#include "arrow/ipc_writer.h"
#include "duckdb_fixture.h"
#include "engine/result_rows.h"

namespace sightline::arrow {
namespace {

class IpcReader : public sightline::testing::DuckDBTest {
 protected:
  // `sql`'s result as the bytes of an IPC stream (our writer).
  std::string stream_of(const std::string& sql) {
    auto out = query(sql);
    auto bytes = write_ipc_stream(out.table);
    EXPECT_TRUE(bytes.has_value());
    return bytes ? *bytes : std::string();
  }
  // Reads `bytes` into table `name` on this connection (through an Arrow scan).
  Result<void> scan(const std::string& bytes, const std::string& name) {
    auto stream = read_ipc_stream(bytes);
    if (!stream) return fail(stream.error());
    keep_.push_back(std::make_unique<IpcStream>(std::move(*stream)));
    exported_.push_back(std::make_unique<ArrowArrayStream>());
    keep_.back()->export_stream(exported_.back().get());
    const std::string view = name + "_view";
    if (duckdb_arrow_scan(conn_->handle(), view.c_str(), reinterpret_cast<duckdb_arrow_stream>(exported_.back().get())) != DuckDBSuccess)
      return fail(ErrorKind::Internal, "duckdb_arrow_scan failed");
    auto made = conn_->execute("CREATE TABLE " + name + " AS SELECT * FROM " + view);
    if (!made) return fail(made.error());
    return {};
  }
  int64_t count_of(const std::string& sql) {
    auto rows = engine::rows_of(query(sql));
    return rows && !rows->empty() ? (*rows)[0][0].get<int64_t>() : -1;
  }
  std::vector<std::unique_ptr<IpcStream>> keep_;
  std::vector<std::unique_ptr<ArrowArrayStream>> exported_;
};

constexpr const char* kTable = R"(
  CREATE TABLE t AS SELECT
    i::BIGINT AS id, (i % 100)::TINYINT AS tiny, (i * 7)::SMALLINT AS small, (i * 3)::INTEGER AS int32,
    (i * 11)::UBIGINT AS ubig, CASE WHEN i % 5 = 0 THEN NULL ELSE i / 8.0 END AS dbl, (i / 4.0)::FLOAT AS flt,
    i % 3 = 0 AS flag, CASE WHEN i % 7 = 0 THEN NULL ELSE 'näme ' || (i % 13) || ' ✓' END AS txt, '' AS empty_text,
    DATE '2024-02-28' + i::INTEGER AS day, TIMESTAMP '2024-03-31 01:30:00' + to_minutes(i * 17) AS ts,
    TIMESTAMPTZ '2024-10-27 00:00:00+00' + to_minutes(i * 13) AS tstz,
    CAST(i * 1.25 - 40 AS DECIMAL(12,2)) AS money, CAST(NULL AS INTEGER) AS nothing,
    (['north', 'south', 'east'])[1 + i % 3]::ENUM('north', 'south', 'east') AS region
  FROM range(3000) r(i))";

TEST_F(IpcReader, ReadsBackEveryTypeItTakesWithTheSameValues) {
  auto made = conn_->execute(kTable);
  ASSERT_TRUE(made.has_value()) << made.error().for_author();
  const std::string bytes = stream_of("SELECT * FROM t");
  auto stream = read_ipc_stream(bytes);
  ASSERT_TRUE(stream) << stream.error().message;
  EXPECT_EQ(stream->rows(), 3000);
  EXPECT_EQ(stream->field_names().size(), 16u);
  ASSERT_TRUE(scan(bytes, "back"));
  EXPECT_EQ(count_of("SELECT count(*) FROM back"), 3000);
  // Every value equal, nulls included, both ways (region arrives as a dictionary: compare text).
  const std::string cols = "id, tiny, small, int32, ubig, dbl, flt, flag, txt, empty_text, day, ts, tstz, money, nothing, region::VARCHAR";
  EXPECT_EQ(count_of("SELECT count(*) FROM (SELECT " + cols + " FROM t EXCEPT ALL SELECT " + cols + " FROM back)"), 0);
  EXPECT_EQ(count_of("SELECT count(*) FROM (SELECT " + cols + " FROM back EXCEPT ALL SELECT " + cols + " FROM t)"), 0);
  EXPECT_EQ(count_of("SELECT count(*) FROM back WHERE txt IS NULL"), 429);
}

TEST_F(IpcReader, RefusesWhatIsNotAStreamWithPreciseMessages) {
  auto garbage = read_ipc_stream("id,amount\n1,2\n");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().kind, ErrorKind::InvalidInput);
  auto empty = read_ipc_stream(std::string(8, '\0'));
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message, "the body is not an Arrow IPC stream (no schema message)");
  ASSERT_TRUE(conn_->execute("CREATE TABLE l AS SELECT [1, 2] AS list_column").has_value());
  auto nested = read_ipc_stream(stream_of("SELECT * FROM l"));
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().message, "column 'list_column': nested Arrow columns are not read");
  ASSERT_TRUE(conn_->execute("CREATE TABLE b AS SELECT 'x'::BLOB AS bytes_column").has_value());
  auto binary = read_ipc_stream(stream_of("SELECT * FROM b"));
  ASSERT_FALSE(binary);
  EXPECT_NE(binary.error().message.find("column 'bytes_column': the Arrow type Binary is not read"), std::string::npos);
}

TEST_F(IpcReader, StreamsCutAnywhereOrWithBytesChangedAreRefusedOrReadSafely) {
  auto made = conn_->execute(kTable);
  ASSERT_TRUE(made.has_value()) << made.error().for_author();
  const std::string bytes = stream_of("SELECT * FROM t LIMIT 40");
  int read = 0, refused = 0;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = read_ipc_stream(std::string_view(bytes).substr(0, cut));
    r ? ++read : ++refused;
  }
  EXPECT_GT(refused, 0);
  std::mt19937 random(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string changed = bytes;
    for (int k = 0; k < 1 + trial % 4; ++k) changed[random() % changed.size()] = static_cast<char>(random() & 0xFF);
    const std::string name = "changed" + std::to_string(trial);
    if (!scan(changed, name)) {
      ++refused;
      continue;
    }
    ++read;
    // Whatever was read, DuckDB can scan it whole (every value touched as text).
    auto out = conn_->query("SELECT count(*), sum(length(CAST(COLUMNS(*) AS VARCHAR))) FROM " + name, 10);
    (void)out;  // a conversion may fail (a value out of range); it must not crash
  }
  EXPECT_GT(read, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace sightline::arrow
