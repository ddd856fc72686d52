// Downloads are written batch by batch: a streaming statement hands its chunks over as DuckDB
// makes them (engine::PreparedStatement::execute_streaming), the encoders write each batch
// (arrow/batch_writer.h), and a spool file keeps the bytes (core/spool.h). Checked here: the
// bytes equal those of the whole-result path for the same rows, a run stopped midway is an error
// and never a short answer that looks whole, and spool files leave nothing on disk.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "arrow/batch_writer.h"
#include "arrow/csv_writer.h"
#include "arrow/ipc_writer.h"
#include "arrow/json_writer.h"
#include "core/spool.h"
#include "duckdb_fixture.h"

namespace sightline {
namespace {
namespace fs = std::filesystem;

// Awkward rows: NULLs in every column, decimals, time zones, text with separators and quotes,
// a many-valued text column; more rows than a chunk (2,048) several times over.
constexpr const char* kRowsSql = R"(
  SELECT i AS "id",
         CASE WHEN i % 7 = 0 THEN NULL ELSE (i * 37 % 100003)::DECIMAL(12,3) / 7 END AS "amount €",
         CASE WHEN i % 11 = 0 THEN NULL ELSE TIMESTAMPTZ '2024-03-31 00:30:00+00' + to_minutes(i) END AS "at",
         CASE WHEN i % 13 = 0 THEN NULL WHEN i % 5 = 0 THEN '' ELSE 'name, "' || (i * 7919 % 50000)::VARCHAR || E'"\n=x' END AS "who",
         (i % 3 = 0) AS "flag"
  FROM range(0, 10000) t(i) ORDER BY i)";

// The same without NULLs: under a NULL, Arrow leaves the value bytes undefined, and DuckDB leaves
// whatever its memory held there, so two runs of one query differ in those bytes of an IPC stream.
constexpr const char* kRowsWithoutNullsSql = R"(
  SELECT "id", coalesce("amount €", -1) AS "amount €", coalesce("at", TIMESTAMPTZ '1970-01-01 00:00:00+00') AS "at",
         coalesce("who", 'none') AS "who", "flag"
  FROM ()" "%ROWS%" R"() ORDER BY "id")";

std::string without_nulls() {
  std::string sql = kRowsWithoutNullsSql;
  sql.replace(sql.find("%ROWS%"), 6, kRowsSql);
  return sql;
}

class Streaming : public testing::DuckDBTest {
 protected:
  // Streams `sql` into `encoding` and returns the bytes (and the run's outcome).
  Result<engine::StreamedRows> stream(const std::string& sql, int64_t max_rows, arrow::Encoding encoding, std::string& out,
                                      const std::function<Result<void>(int)>& on_batch = nullptr) {
    auto stmt = conn_->prepare(sql);
    if (!stmt) return fail(stmt.error());
    std::unique_ptr<arrow::BatchWriter> writer;
    int batches = 0;
    engine::BatchSink sink{.start = [&](const std::vector<engine::ColumnInfo>&, const ArrowSchema& schema) -> Result<void> {
                             auto w = arrow::start_batch_writer(encoding, schema, out);
                             if (!w) return fail(w.error());
                             writer = std::move(*w);
                             return {};
                           },
                           .batch = [&](const ArrowArray& batch) -> Result<void> {
                             if (on_batch)
                               if (auto ok = on_batch(batches); !ok) return ok;
                             ++batches;
                             return writer->write_batch(batch);
                           }};
    auto rows = stmt->execute_streaming({}, max_rows, sink);
    if (rows && writer) writer->finish();
    return rows;
  }
};

TEST_F(Streaming, BytesEqualTheWholeResultWritersForEveryEncodingAndCap) {
  for (int64_t cap : {int64_t{10'000}, int64_t{1'000'000}, int64_t{5'000}, int64_t{2'048}, int64_t{1}}) {
    for (auto encoding : {arrow::Encoding::Csv, arrow::Encoding::Json, arrow::Encoding::ArrowIpc}) {
      const std::string sql = encoding == arrow::Encoding::ArrowIpc ? without_nulls() : std::string(kRowsSql);
      engine::QueryOutput whole = query(sql, cap);
      ASSERT_EQ(whole.table.num_rows, std::min<int64_t>(cap, 10'000));
      std::string streamed;
      auto rows = stream(sql, cap, encoding, streamed);
      ASSERT_TRUE(rows.has_value()) << rows.error().message;
      EXPECT_EQ(rows->rows, whole.table.num_rows) << "cap " << cap;
      EXPECT_EQ(rows->truncated, whole.truncated) << "cap " << cap;
      Result<std::string> expected = encoding == arrow::Encoding::Csv    ? arrow::write_csv(whole.table)
                                     : encoding == arrow::Encoding::Json ? arrow::write_json_rows(whole.table)
                                                                         : arrow::write_ipc_stream(whole.table);
      ASSERT_TRUE(expected.has_value());
      size_t diff = 0;
      while (diff < std::min(streamed.size(), expected->size()) && streamed[diff] == (*expected)[diff]) ++diff;
      EXPECT_TRUE(streamed == *expected) << "first difference at byte " << diff << "; cap " << cap << ", encoding " << static_cast<int>(encoding) << ": " << streamed.size()
                                         << " bytes streamed, " << expected->size() << " whole";
    }
  }
}

TEST_F(Streaming, ParametersAreBoundAsInExecute) {
  auto stmt = conn_->prepare("SELECT i FROM range(0, 100000) t(i) WHERE i % ? = 0 AND ?::VARCHAR = 'it''s'");
  ASSERT_TRUE(stmt.has_value());
  int64_t seen = 0;
  engine::BatchSink sink{.start = [](const auto&, const ArrowSchema&) -> Result<void> { return {}; },
                         .batch = [&](const ArrowArray& b) -> Result<void> {
                           seen += b.length;
                           return {};
                         }};
  auto rows = stmt->execute_streaming({int64_t{3}, std::string("it's")}, 1'000'000, sink);
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  EXPECT_EQ(rows->rows, 33'334);
  EXPECT_EQ(seen, 33'334);
  EXPECT_FALSE(rows->truncated);
}

TEST_F(Streaming, AnInterruptMidwayIsAnErrorNotAShortAnswer) {
  // A big result, produced as it is read: interrupted after the second batch.
  const std::string sql = "SELECT i, md5(i::VARCHAR) AS h FROM range(0, 50000000) t(i)";
  std::string out;
  auto rows = stream(sql, 100'000'000, arrow::Encoding::Csv, out, [&](int n) -> Result<void> {
    if (n == 2) conn_->interrupt();
    return {};
  });
  ASSERT_FALSE(rows.has_value()) << "an interrupted stream reported success with " << rows->rows << " rows";
  EXPECT_EQ(rows.error().kind, ErrorKind::Timeout) << rows.error().message;
}

TEST_F(Streaming, ASinkFailureStopsTheRunWithItsError) {
  std::string out;
  auto rows = stream(kRowsSql, 1'000'000, arrow::Encoding::Csv, out, [](int n) -> Result<void> {
    if (n == 1) return fail(ErrorKind::Unavailable, "the disk is full");
    return {};
  });
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().kind, ErrorKind::Unavailable);
  EXPECT_EQ(rows.error().message, "the disk is full");
}

TEST_F(Streaming, AnErrorWhileRunningIsClassifiedAsInExecute) {
  std::string out;
  auto rows = stream("SELECT CAST('x' || i AS INTEGER) FROM range(0, 10) t(i)", 100, arrow::Encoding::Csv, out);
  ASSERT_FALSE(rows.has_value());
  EXPECT_EQ(rows.error().kind, ErrorKind::SourceFailed) << rows.error().message;
}

class SpoolFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-spool-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  bool dir_empty() const { return fs::is_empty(dir_); }
  fs::path dir_;
};

std::string read_all(const SpooledBody& body) {
  std::string out(body.size(), '\0');
  size_t at = 0;
  while (at < out.size()) {
    ssize_t n = ::pread(body.fd(), out.data() + at, out.size() - at, static_cast<off_t>(at));
    if (n <= 0) break;
    at += static_cast<size_t>(n);
  }
  out.resize(at);
  return out;
}

TEST_F(SpoolFiles, KeepEveryByteAndLeaveNoNameOnDisk) {
  auto spool = SpoolFile::create(dir_);
  ASSERT_TRUE(spool.has_value()) << spool.error().for_author();
  std::mt19937 rng(7);
  std::string expected;
  for (int i = 0; i < 300; ++i) {
    // Pieces of every size, some larger than the write block, with NUL bytes.
    std::string piece(rng() % 40'000 + (i % 50 == 0 ? 3u << 20 : 0u), '\0');
    for (auto& c : piece) c = static_cast<char>(rng());
    expected += piece;
    ASSERT_TRUE(spool->append(piece).has_value());
    EXPECT_TRUE(dir_empty()) << "the spool file has a name in its folder";
  }
  EXPECT_EQ(spool->size(), expected.size());
  auto body = spool->finish();
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ((*body)->size(), expected.size());
  EXPECT_TRUE(read_all(**body) == expected);
  EXPECT_TRUE(dir_empty());
  EXPECT_FALSE(spool->finish().has_value()) << "finished twice";
}

TEST_F(SpoolFiles, RefuseToGrowPastTheirLimit) {
  auto spool = SpoolFile::create(dir_);
  ASSERT_TRUE(spool.has_value());
  spool->set_max_bytes(10);
  EXPECT_TRUE(spool->append("0123456789").has_value());
  auto more = spool->append("x");
  ASSERT_FALSE(more.has_value());
  EXPECT_EQ(more.error().kind, ErrorKind::Unavailable);
}

TEST_F(SpoolFiles, AMissingFolderIsUnavailableWithoutNamingIt) {
  auto spool = SpoolFile::create(dir_ / "missing");
  ASSERT_FALSE(spool.has_value());
  EXPECT_EQ(spool.error().kind, ErrorKind::Unavailable);
  EXPECT_EQ(spool.error().message.find(dir_.string()), std::string::npos) << "the message names the folder: " << spool.error().message;
  EXPECT_NE(spool.error().detail.find("missing"), std::string::npos) << "the log detail should name it";
}

TEST_F(SpoolFiles, ShareABudgetThatClosedFilesGiveBack) {
  auto budget = std::make_shared<SpoolBudget>(1000);
  auto a = SpoolFile::create(dir_, budget);
  auto b = SpoolFile::create(dir_, budget);
  ASSERT_TRUE(a.has_value() && b.has_value());
  ASSERT_TRUE(a->append(std::string(600, 'a')).has_value());
  auto over = b->append(std::string(500, 'b'));
  ASSERT_FALSE(over.has_value()) << "two files may not hold more than the budget";
  EXPECT_EQ(over.error().kind, ErrorKind::Unavailable);
  EXPECT_EQ(over.error().message, "the server is preparing too many downloads at once");
  EXPECT_EQ(budget->used(), 600u) << "a refused append takes nothing";
  ASSERT_TRUE(b->append(std::string(400, 'b')).has_value());
  EXPECT_EQ(budget->used(), 1000u);
  {
    auto body = a->finish();
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ(budget->used(), 1000u) << "a finished file holds its bytes until it is sent";
  }
  EXPECT_EQ(budget->used(), 400u) << "the sent file gave its bytes back";
  { SpoolFile dropped = std::move(*b); }
  EXPECT_EQ(budget->used(), 0u) << "a file dropped before it was finished gave its bytes back";
}

}  // namespace
}  // namespace sightline
