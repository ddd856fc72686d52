// DuckDB's errors, classified once (engine/duckdb.h): each kind provoked for real, on a real
// database, and what a caller may see of it checked against what DuckDB said.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/duckdb.h"
#include "engine/engine.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;

class EngineErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sightline-errors-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto db = Database::open(":memory:", {.threads = 1, .memory_limit = "256MB"});
    ASSERT_TRUE(db.has_value()) << db.error().for_author();
    db_ = std::move(*db);
    auto conn = Connection::open(*db_);
    ASSERT_TRUE(conn.has_value());
    conn_ = std::move(*conn);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  fs::path dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Connection> conn_;
};

struct Provoked {
  const char* what;
  std::string sql;
  ErrorKind kind;
  const char* engine_words;  // in DuckDB's message, so in the detail, never in the message
};

// Every kind of failure a widget's statement can meet, with the kind a caller sees.
TEST_F(EngineErrors, EachKindIsClassifiedAndDuckDBsWordsStayInTheDetail) {
  std::string csv = write("t.csv", "id,region,amount\n1,North,10\n3,South,SOUTH-SECRET-ROW\n");
  std::string garbage = write("broken.parquet", "this is not a parquet file at all, just text");
  ASSERT_TRUE(
      conn_->execute("CREATE VIEW typed AS SELECT * FROM read_csv(" + quote_literal(csv) + ", header=true, types={'amount': 'INTEGER'})")
          .has_value());
  ASSERT_TRUE(conn_->execute("CREATE TABLE small AS SELECT 1 AS a").has_value());
  const std::vector<Provoked> cases = {
      {"a CSV value that does not convert", "SELECT sum(amount) FROM typed", ErrorKind::SourceFailed, "SOUTH-SECRET-ROW"},
      {"a missing file", "SELECT * FROM read_csv(" + quote_literal((dir_ / "gone.csv").string()) + ")", ErrorKind::SourceFailed,
       "gone.csv"},
      {"a corrupt Parquet file", "SELECT * FROM read_parquet(" + quote_literal(garbage) + ")", ErrorKind::SourceFailed, "broken.parquet"},
      {"a cast of a stored value", "SELECT CAST(region AS INTEGER) FROM typed WHERE id = 1", ErrorKind::SourceFailed, "North"},
      {"an overflowing sum", "SELECT CAST(a AS TINYINT) * CAST(100 AS TINYINT) * CAST(100 AS TINYINT) FROM small", ErrorKind::SourceFailed,
       "Overflow"},
      {"a column that vanished", "SELECT nope FROM small", ErrorKind::SourceFailed, "nope"},
      {"a relation that vanished", "SELECT * FROM vanished_table", ErrorKind::SourceFailed, "vanished_table"},
      {"SQL that does not parse", "SELECT FROM WHERE", ErrorKind::Internal, "syntax error"},
      {"memory beyond the limit", "SELECT list(range) FROM range(100000000)", ErrorKind::Unavailable, "Out of Memory"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto out = conn_->query(c.sql, 10);
    ASSERT_FALSE(out.has_value());
    const Error& e = out.error();
    EXPECT_EQ(e.kind, c.kind) << e.for_author();
    EXPECT_NE(e.detail.find(c.engine_words), std::string::npos) << e.detail;
    EXPECT_EQ(e.message.find(c.engine_words), std::string::npos) << e.message;
    EXPECT_EQ(e.hint.find(c.engine_words), std::string::npos) << e.hint;
    for (const std::string& leak : {dir_.string(), std::string("Error:"), std::string("SOUTH"), std::string("LINE 1")}) {
      EXPECT_EQ(e.message.find(leak), std::string::npos) << e.message;
      EXPECT_EQ(e.hint.find(leak), std::string::npos) << e.hint;
    }
    // The same statement prepared (the pool's path) fails the same way, whether at prepare or run.
    auto prepared = conn_->prepare(c.sql);
    const Error& again = prepared ? prepared->execute({}, 10).error() : prepared.error();
    EXPECT_EQ(again.kind, c.kind) << again.for_author();
    EXPECT_EQ(again.message.find(c.engine_words), std::string::npos);
  }
}

TEST_F(EngineErrors, AnInterruptedQueryIsATimeout) {
  auto prepared = conn_->prepare("SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3");
  ASSERT_TRUE(prepared.has_value());
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    conn_->interrupt();
  });
  auto out = prepared->execute({}, 1);
  stopper.join();
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().kind, ErrorKind::Timeout);
  EXPECT_NE(out.error().detail.find("INTERRUPT"), std::string::npos) << out.error().detail;
}

TEST(EngineErrorClassification, DuckDBsTypeIsReadBackFromItsMessage) {
  EXPECT_EQ(engine_error_type_of("Binder Error: Referenced column \"x\" not found"), DUCKDB_ERROR_BINDER);
  EXPECT_EQ(engine_error_type_of("Invalid Input Error: No magic bytes"), DUCKDB_ERROR_INVALID_INPUT);
  EXPECT_EQ(engine_error_type_of("Invalid type Error: x"), DUCKDB_ERROR_INVALID_TYPE);
  EXPECT_EQ(engine_error_type_of("Invalid Error: x"), DUCKDB_ERROR_INVALID);
  EXPECT_EQ(engine_error_type_of("Out of Memory Error: could not allocate"), DUCKDB_ERROR_OUT_OF_MEMORY);
  EXPECT_EQ(engine_error_type_of("IO Error: No files found"), DUCKDB_ERROR_IO);
  EXPECT_EQ(engine_error_type_of("INTERRUPT Error: Interrupted!"), DUCKDB_ERROR_INTERRUPT);
  EXPECT_EQ(engine_error_type_of("Conversionless text"), DUCKDB_ERROR_INVALID);
  EXPECT_EQ(engine_error_type_of(""), DUCKDB_ERROR_INVALID);
}

// engine.max_spill caps what a query may write to spill files: over it, the query fails as the
// engine being short of memory (503, never a full disk), and its message names no path; with room
// to spill, the same query answers.
TEST_F(EngineErrors, ASpillOverTheCapFailsAsUnavailableAndRoomToSpillAnswers) {
  const std::string spill = (dir_ / "spill").string();
  // A sort of 4M strings (~100 MB) under a 48 MB limit: it spills.
  const std::string sql =
      "SELECT max(rn) FROM (SELECT row_number() OVER (ORDER BY s) AS rn FROM (SELECT 'value-number-' || ((i * 7919) % 2000003) AS s "
      "FROM range(4000000) t(i)))";
  for (const char* cap : {"1MB", "4GB"}) {
    auto db = Database::open(":memory:", {.threads = 1, .memory_limit = "48MB", .temp_directory = spill, .max_spill = cap});
    ASSERT_TRUE(db.has_value()) << db.error().for_author();
    auto conn = Connection::open(**db);
    ASSERT_TRUE(conn.has_value());
    auto out = (*conn)->query(sql, 1);
    if (std::string(cap) == "1MB") {
      ASSERT_FALSE(out.has_value()) << "the query did not need to spill, so the cap was not tested";
      EXPECT_EQ(out.error().kind, ErrorKind::Unavailable) << out.error().for_author();
      EXPECT_EQ(out.error().message.find(spill), std::string::npos) << out.error().message;
    } else {
      EXPECT_TRUE(out.has_value()) << out.error().for_author();
    }
  }
}

TEST(EngineErrorClassification, ReadErrorsAreDescribedForTheAuthorWithRelativePaths) {
  const std::string duckdb_said =
      "Conversion Error: CSV Error on Line: 4\nOriginal Line: 3,South,\"SOUTH-SECRET-ROW\"\nError when converting column \"amount\". "
      "Could not convert string \"SOUTH-SECRET-ROW\" to 'INTEGER'\n\nColumn amount is being converted as type INTEGER\n\n"
      "  file = /srv/project/data/t.csv\n  delimiter = , (Auto-Detected)\n";
  EXPECT_EQ(describe_read_error(duckdb_said, "/srv/project"),
            "data/t.csv:4: column \"amount\": could not convert string \"SOUTH-SECRET-ROW\" to 'INTEGER'");
  EXPECT_EQ(describe_read_error("IO Error: No files found that match the pattern \"/srv/project/data/x.csv\"\n\nmore", "/srv/project/"),
            "IO Error: No files found that match the pattern \"data/x.csv\"");
}

}  // namespace
}  // namespace sightline::engine
