// Ingest batches (engine/ingest_writer.h): CSV and NDJSON bodies checked against declared
// columns and written as Parquet, whole or not at all. Each Parquet file is read back with a
// separate in-memory DuckDB (the fixture's), so what is asserted is what a reader sees.
#include "engine/ingest_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "duckdb_fixture.h"
#include "engine/result_rows.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<IngestColumn> kColumns = {
    {"id", "BIGINT"},     {"amount", "DECIMAL(12,2)"}, {"at", "TIMESTAMPTZ"},  {"day", "DATE"},
    {"ok", "BOOLEAN"},    {"note", "VARCHAR"},         {"ratio", "DOUBLE"},
};

class IngestWriter : public sightline::testing::DuckDBTest {
 protected:
  void SetUp() override {
    DuckDBTest::SetUp();
    dir_ = fs::temp_directory_path() /
           ("sightline-ingest-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(out_dir());
    fs::create_directories(scratch());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path out_dir() const { return dir_ / "data"; }
  fs::path scratch() const { return dir_ / "scratch"; }
  fs::path target() const { return out_dir() / "batch-1.parquet"; }

  Result<IngestBatch> write(std::string_view body, IngestFormat format, const std::vector<IngestColumn>& columns = kColumns) {
    return write_ingest_batch(body, format, columns, target(), scratch());
  }
  // The error of a write that must fail.
  Error failure(std::string_view body, IngestFormat format, const std::vector<IngestColumn>& columns = kColumns) {
    auto r = write(body, format, columns);
    EXPECT_FALSE(r.has_value()) << "wrote " << (r ? r->rows : 0) << " rows";
    return r ? Error{} : r.error();
  }
  // The rows of `sql`, where {} stands for the target read as Parquet.
  json read_back(const std::string& sql) {
    std::string text = sql;
    text.replace(text.find("{}"), 2, "read_parquet(" + quote_literal(target().string()) + ")");
    auto out = conn_->query(text, 1000);
    EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().for_author());
    auto got = out ? rows_of(*out) : Result<json>(json::array());
    EXPECT_TRUE(got.has_value());
    return got ? *got : json::array();
  }
  std::vector<std::string> files_in(const fs::path& dir) const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    return names;
  }
  // After a failure: no target, and nothing of ours left beside it or in the scratch folder.
  void expect_nothing_left() {
    EXPECT_FALSE(fs::exists(target()));
    EXPECT_EQ(files_in(out_dir()), std::vector<std::string>{});
    EXPECT_EQ(files_in(scratch()), std::vector<std::string>{});
  }

  fs::path dir_;
};

// The schema of the target: name and type of each column, in order.
const json kSchema = json::parse(R"j([["id","BIGINT"],["amount","DECIMAL(12,2)"],["at","TIMESTAMP WITH TIME ZONE"],["day","DATE"],
                                     ["ok","BOOLEAN"],["note","VARCHAR"],["ratio","DOUBLE"]])j");
const char* kSchemaSql = "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {})";
const char* kValuesSql =
    "SELECT id, CAST(amount AS VARCHAR), CAST(\"at\" AS VARCHAR), CAST(day AS VARCHAR), ok, note, ratio FROM {} ORDER BY id";

TEST_F(IngestWriter, CsvRoundTripKeepsValuesTypesAndDeclaredOrder) {
  // The header's order is not the declared one; "ratio" is declared but absent (NULL).
  const std::string body =
      "note,id,amount,at,day,ok\r\n"
      "\"Zürich, \"\"quoted\"\"\nsecond line\",1,12.50,2024-03-01 10:00:00+02:00,2024-03-01,true\r\n"
      "日本語 ✓ 🚀,2,-0.05,2024-12-31T23:59:59Z,1999-01-02,false\r\n"
      ",3,,,,\r\n";
  auto r = write(body, IngestFormat::Csv);
  ASSERT_TRUE(r.has_value()) << r.error().message << " / " << r.error().detail;
  EXPECT_EQ(r->rows, 3);
  EXPECT_EQ(read_back(kSchemaSql), kSchema);
  EXPECT_EQ(read_back(kValuesSql), json::parse(R"j([
    [1, "12.50", "2024-03-01 08:00:00+00", "2024-03-01", true, "Zürich, \"quoted\"\nsecond line", null],
    [2, "-0.05", "2024-12-31 23:59:59+00", "1999-01-02", false, "日本語 ✓ 🚀", null],
    [3, null, null, null, null, null, null]])j"));
  EXPECT_EQ(files_in(out_dir()), std::vector<std::string>{"batch-1.parquet"});
  EXPECT_EQ(files_in(scratch()), std::vector<std::string>{});
}

TEST_F(IngestWriter, NdjsonRoundTripConvertsStringsNumbersBooleansAndNulls) {
  const std::string body =
      "{\"id\": 9007199254740993, \"amount\": 12.5, \"at\": \"2024-03-01T10:00:00+02:00\", \"day\": \"2024-03-01\", \"ok\": true,"
      " \"note\": \"Zürich, \\\"quoted\\\"\\nsecond line\", \"ratio\": 0.25}\n"
      "\n"
      "   \r\n"
      "{\"id\": \"2\", \"amount\": \"-0.05\", \"ok\": \"false\", \"note\": \"日本語 \\u2713 🚀\", \"ratio\": 1e3}\r\n"
      "{\"id\": 3, \"amount\": null, \"note\": null}\n"
      "{\"id\": 4}";
  auto r = write(body, IngestFormat::NdJson);
  ASSERT_TRUE(r.has_value()) << r.error().message << " / " << r.error().detail;
  EXPECT_EQ(r->rows, 4);
  EXPECT_EQ(read_back(kSchemaSql), kSchema);
  // 64-bit integers beyond 2^53 come back from the JSON rows as text.
  EXPECT_EQ(read_back("SELECT CAST(id AS VARCHAR), CAST(amount AS VARCHAR), CAST(\"at\" AS VARCHAR), CAST(day AS VARCHAR), ok, note, ratio "
                      "FROM {} ORDER BY id"),
            json::parse(R"j([
    ["2", "-0.05", null, null, false, "日本語 ✓ 🚀", 1000.0],
    ["3", null, null, null, null, null, null],
    ["4", null, null, null, null, null, null],
    ["9007199254740993", "12.50", "2024-03-01 08:00:00+00", "2024-03-01", true, "Zürich, \"quoted\"\nsecond line", 0.25]])j"));
}

TEST_F(IngestWriter, NdjsonNestedValuesFitOnlyNestedTypes) {
  const std::vector<IngestColumn> columns = {{"id", "BIGINT"}, {"tags", "VARCHAR[]"}, {"note", "VARCHAR"}};
  auto r = write("{\"id\": 1, \"tags\": [\"a\", \"b\"]}\n", IngestFormat::NdJson, columns);
  ASSERT_TRUE(r.has_value()) << r.error().message << " / " << r.error().detail;
  EXPECT_EQ(read_back("SELECT id, tags FROM {}"), json::parse(R"j([[1, ["a", "b"]]])j"));
  fs::remove(target());

  Error e = failure("{\"id\": 1}\n{\"id\": 2, \"note\": {\"x\": 1}}\n", IngestFormat::NdJson, columns);
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_EQ(e.message, "row 2, column \"note\": '{\"x\":1}' is not a VARCHAR");
  e = failure("{\"id\": [1]}\n", IngestFormat::NdJson, columns);
  EXPECT_EQ(e.message, "row 1, column \"id\": '[1]' is not a BIGINT");
  e = failure("{\"id\": true}\n", IngestFormat::NdJson, columns);
  EXPECT_EQ(e.message, "row 1, column \"id\": 'true' is not a BIGINT");
  expect_nothing_left();
}

TEST_F(IngestWriter, UnknownColumnIsRefusedAndTheHintListsTheDeclaredOnes) {
  for (auto [body, format] : std::vector<std::pair<std::string, IngestFormat>>{{"id,amount,colour\n1,2,red\n", IngestFormat::Csv},
                                                                                {"{\"id\": 1}\n{\"id\": 2, \"colour\": \"red\"}\n", IngestFormat::NdJson}}) {
    Error e = failure(body, format);
    EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
    EXPECT_EQ(e.message, "unknown column 'colour'");
    EXPECT_EQ(e.hint, "the declared columns are: id, amount, at, day, ok, note, ratio");
    expect_nothing_left();
  }
  // Names match exactly: "ID" is not "id".
  EXPECT_EQ(failure("ID\n1\n", IngestFormat::Csv).message, "unknown column 'ID'");
}

TEST_F(IngestWriter, ABadValueNamesItsRowAndColumnAndNoPath) {
  const std::string csv = "id,amount\n1,1.00\n2,2.00\n3,\n4,abc\n5,also bad\n";
  Error e = failure(csv, IngestFormat::Csv);
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_EQ(e.message, "row 4, column \"amount\": 'abc' is not a DECIMAL(12,2)");
  for (const std::string& text : {e.message, e.hint, e.detail}) {
    EXPECT_EQ(text.find(scratch().string()), std::string::npos) << text;
    EXPECT_EQ(text.find(out_dir().string()), std::string::npos) << text;
  }
  expect_nothing_left();

  // NDJSON rows count objects, not lines; the first bad value by row, then by declared column.
  e = failure("{\"id\": 1}\n\n{\"id\": 2}\n{\"day\": \"2024-02-30\", \"id\": \"x\"}\n", IngestFormat::NdJson);
  EXPECT_EQ(e.message, "row 3, column \"id\": 'x' is not a BIGINT");
  e = failure("{\"day\": \"2024-02-30\"}\n", IngestFormat::NdJson);
  EXPECT_EQ(e.message, "row 1, column \"day\": '2024-02-30' is not a DATE");
  e = failure("id,amount\n1,123456789012.5\n", IngestFormat::Csv);
  EXPECT_EQ(e.message, "row 1, column \"amount\": '123456789012.5' is not a DECIMAL(12,2)") << "beyond the precision";
  e = failure("id,at\n1,2024-13-01 00:00:00\n", IngestFormat::Csv);
  EXPECT_EQ(e.message, "row 1, column \"at\": '2024-13-01 00:00:00' is not a TIMESTAMPTZ");
  // Numbers the column would round are refused, not stored rounded.
  e = failure("id,amount\n1.5,1.00\n", IngestFormat::Csv);
  EXPECT_EQ(e.message, "row 1, column \"id\": '1.5' is not a BIGINT");
  e = failure("id,amount\n1,1.234\n", IngestFormat::Csv);
  EXPECT_EQ(e.message, "row 1, column \"amount\": '1.234' is not a DECIMAL(12,2)");
  e = failure("{\"id\": 2.5}\n", IngestFormat::NdJson);
  EXPECT_EQ(e.message, "row 1, column \"id\": '2.5' is not a BIGINT");
  expect_nothing_left();
}

TEST_F(IngestWriter, ALongValueIsCutInTheMessage) {
  const std::string value(10'000, 'x');
  Error e = failure("id,day\n1," + value + "\n", IngestFormat::Csv);
  EXPECT_EQ(e.message, "row 1, column \"day\": '" + std::string(64, 'x') + "…' is not a DATE");
  // Cut by characters, never inside one.
  std::string wide;
  for (int i = 0; i < 100; ++i) wide += "é";
  e = failure("{\"id\": \"" + wide + "\"}\n", IngestFormat::NdJson);
  std::string first64;
  for (int i = 0; i < 64; ++i) first64 += "é";
  EXPECT_EQ(e.message, "row 1, column \"id\": '" + first64 + "…' is not a BIGINT");
  expect_nothing_left();
}

TEST_F(IngestWriter, NoRowsIsRefusedAndNothingIsWritten) {
  for (auto [body, format] : std::vector<std::pair<std::string, IngestFormat>>{{"", IngestFormat::Csv},
                                                                                {"\n\n", IngestFormat::Csv},
                                                                                {"id,amount\n", IngestFormat::Csv},
                                                                                {"id,amount", IngestFormat::Csv},
                                                                                {"", IngestFormat::NdJson},
                                                                                {"\n  \n\r\n", IngestFormat::NdJson}}) {
    Error e = failure(body, format);
    EXPECT_EQ(e.kind, ErrorKind::InvalidInput) << body;
    EXPECT_EQ(e.message, "no rows") << body;
    expect_nothing_left();
  }
}

TEST_F(IngestWriter, NdjsonLinesThatAreNotObjectsAreNamedByLine) {
  Error e = failure("{\"id\": 1}\n\n[1, 2]\n", IngestFormat::NdJson);
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_EQ(e.message, "line 3 is not a JSON object");
  EXPECT_EQ(failure("{\"id\": 1}\n{\"id\": 2\n", IngestFormat::NdJson).message, "line 2 is not valid JSON");
  EXPECT_EQ(failure("\"just text\"\n", IngestFormat::NdJson).message, "line 1 is not a JSON object");
  EXPECT_EQ(failure("{\"id\": 1} {\"id\": 2}\n", IngestFormat::NdJson).message, "line 1 is not valid JSON");
  EXPECT_EQ(failure("{\"id\": 1, \"id\": 2}\n", IngestFormat::NdJson).message, "row 1 names column 'id' twice");
  expect_nothing_left();
}

TEST_F(IngestWriter, CsvThatDoesNotParseIsNamedByLine) {
  // Lines are the body's own: the quoted line break counts, so the ragged record is on line 4.
  Error e = failure("id,note\n1,\"two\nlines\"\n3,x,extra\n", IngestFormat::Csv);
  EXPECT_EQ(e.kind, ErrorKind::InvalidInput);
  EXPECT_EQ(e.message, "line 4 does not have as many fields as the header (2)");
  EXPECT_EQ(failure("id,note\n1\n", IngestFormat::Csv).message, "line 2 does not have as many fields as the header (2)");
  EXPECT_EQ(failure("id,note\n1,\"never closed\n2,b\n", IngestFormat::Csv).message, "line 2 has a quoted field that is not closed properly");
  EXPECT_EQ(failure("id,,note\n1,2,3\n", IngestFormat::Csv).message, "field 2 of the header has no name");
  EXPECT_EQ(failure("id,note,id\n1,2,3\n", IngestFormat::Csv).message, "column 'id' appears twice in the header");
  EXPECT_EQ(failure("\nid\n1\n", IngestFormat::Csv).message, "the first line is blank");
  EXPECT_EQ(failure("id,note\n1,caf\xC3\n", IngestFormat::Csv).message, "the body is not UTF-8 text (byte 14)");
  expect_nothing_left();
}

TEST_F(IngestWriter, HostileValuesAreStoredVerbatim) {
  const std::string hostile = "'); DROP TABLE x; --";
  const std::vector<IngestColumn> columns = {{"id", "BIGINT"}, {"note", "VARCHAR"}};
  auto r = write("id,note\n1," + hostile + "\n2,\"\"\"\"\n3,#not a comment\n", IngestFormat::Csv, columns);
  ASSERT_TRUE(r.has_value()) << r.error().message << " / " << r.error().detail;
  EXPECT_EQ(read_back("SELECT id, note FROM {} ORDER BY id"), (json{{1, hostile}, {2, "\""}, {3, "#not a comment"}}));

  r = write("{\"id\": 1, \"note\": \"" + std::string("'); DROP TABLE x; --") + "\"}\n", IngestFormat::NdJson, columns);
  ASSERT_TRUE(r.has_value()) << r.error().message << " / " << r.error().detail;
  EXPECT_EQ(read_back("SELECT note FROM {}"), (json{{hostile}}));
  // A hostile name is only ever compared, never spliced.
  EXPECT_EQ(failure("{\"x'); DROP TABLE x; --\": 1}\n", IngestFormat::NdJson, columns).message, "unknown column 'x'); DROP TABLE x; --'");
}

TEST_F(IngestWriter, AFailureLeavesAnExistingTargetAsItWasAndASuccessReplacesIt) {
  std::ofstream(target()) << "previous";
  Error e = failure("id\nnot a number\n", IngestFormat::Csv);
  EXPECT_EQ(e.message, "row 1, column \"id\": 'not a number' is not a BIGINT");
  std::stringstream kept;
  kept << std::ifstream(target()).rdbuf();
  EXPECT_EQ(kept.str(), "previous");
  EXPECT_EQ(files_in(out_dir()), std::vector<std::string>{"batch-1.parquet"});

  auto r = write("id\n7\n", IngestFormat::Csv);
  ASSERT_TRUE(r.has_value()) << r.error().message << " / " << r.error().detail;
  EXPECT_EQ(read_back("SELECT id, ratio FROM {}"), (json{{7, nullptr}}));
  EXPECT_EQ(files_in(out_dir()), std::vector<std::string>{"batch-1.parquet"});
  EXPECT_EQ(files_in(scratch()), std::vector<std::string>{});
}

TEST_F(IngestWriter, CallsRunInParallelAndTimestampsWithoutAnOffsetAreUtc) {
  std::vector<Result<IngestBatch>> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] {
      const std::string body = "id,at\n" + std::to_string(i) + ",2024-06-01 12:00:00\n";
      results[i] = write_ingest_batch(body, IngestFormat::Csv, kColumns, out_dir() / ("part-" + std::to_string(i) + ".parquet"), scratch());
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].has_value()) << results[i].error().message << " / " << results[i].error().detail;
    EXPECT_EQ(results[i]->rows, 1);
  }
  EXPECT_EQ(files_in(out_dir()).size(), results.size());
  EXPECT_EQ(files_in(scratch()), std::vector<std::string>{});
  auto got = conn_->query("SELECT count(*), min(id), max(id), min(CAST(\"at\" AS VARCHAR)), max(CAST(\"at\" AS VARCHAR)) FROM read_parquet(" +
                              quote_literal((out_dir() / "part-*.parquet").string()) + ")",
                          10);
  ASSERT_TRUE(got.has_value()) << got.error().for_author();
  EXPECT_EQ(*rows_of(*got), json::parse(R"j([[4, 0, 3, "2024-06-01 12:00:00+00", "2024-06-01 12:00:00+00"]])j"));
}

TEST_F(IngestWriter, BadDeclaredColumnsAreTheServersFault) {
  EXPECT_EQ(failure("id\n1\n", IngestFormat::Csv, {{"id", "NOT_A_TYPE"}}).kind, ErrorKind::Internal);
  EXPECT_EQ(failure("id\n1\n", IngestFormat::Csv, {{"id", "BIGINT"}, {"ID", "VARCHAR"}}).kind, ErrorKind::Internal);
  EXPECT_EQ(failure("id\n1\n", IngestFormat::Csv, {}).kind, ErrorKind::Internal);
  expect_nothing_left();
}

TEST(IngestFormatOf, NamesCsvAndNdjsonMediaTypesOnly) {
  EXPECT_EQ(ingest_format_of("text/csv"), IngestFormat::Csv);
  EXPECT_EQ(ingest_format_of("Text/CSV; charset=utf-8"), IngestFormat::Csv);
  EXPECT_EQ(ingest_format_of("  text/csv ;header=present"), IngestFormat::Csv);
  EXPECT_EQ(ingest_format_of("application/x-ndjson"), IngestFormat::NdJson);
  EXPECT_EQ(ingest_format_of("application/ndjson"), IngestFormat::NdJson);
  EXPECT_EQ(ingest_format_of("APPLICATION/JSONL; charset=UTF-8"), IngestFormat::NdJson);
  EXPECT_EQ(ingest_format_of("application/json"), std::nullopt);
  EXPECT_EQ(ingest_format_of("application/json-seq"), std::nullopt);
  EXPECT_EQ(ingest_format_of("text/plain"), std::nullopt);
  EXPECT_EQ(ingest_format_of("text/csvx"), std::nullopt);
  EXPECT_EQ(ingest_format_of(""), std::nullopt);
}

}  // namespace
}  // namespace sightline::engine
