// CSV downloads from Arrow results: RFC 4180 quoting, nulls, formula neutralization.
#include "arrow/csv_writer.h"

#include <gtest/gtest.h>

#include "duckdb_fixture.h"

#include <optional>

#include "engine/duckdb.h"

namespace sightline::arrow {
namespace {

// A strict RFC 4180 reader for checking round trips: records of fields; a field that was never
// quoted and is empty reads as nullopt (how the writer spells null).
std::vector<std::vector<std::optional<std::string>>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::optional<std::string>>> records;
  std::vector<std::optional<std::string>> record;
  size_t i = 0;
  while (i < text.size()) {
    std::string field;
    bool quoted = false;
    if (text[i] == '"') {
      quoted = true;
      ++i;
      while (true) {
        EXPECT_LT(i, text.size()) << "unterminated quoted field";
        if (i >= text.size()) return records;
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.size() && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
        EXPECT_NE(text[i], '"') << "a quote inside an unquoted field";
        field += text[i++];
      }
    }
    record.push_back(quoted || !field.empty() ? std::optional<std::string>(field) : std::nullopt);
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    EXPECT_EQ(text.substr(i, 2), "\r\n") << "records end with CRLF at " << i;
    i += 2;
    records.push_back(std::move(record));
    record.clear();
  }
  return records;
}

class ArrowCsv : public testing::DuckDBTest {
 protected:
  std::string csv(const std::string& sql, int64_t max_rows = 1'000'000) {
    auto out = query(sql, max_rows);
    auto rendered = write_csv(out.table);
    EXPECT_TRUE(rendered.has_value()) << (rendered ? "" : rendered.error().message);
    return rendered ? *rendered : "";
  }
};

TEST_F(ArrowCsv, HeaderRowsAndCrlf) {
  EXPECT_EQ(csv("SELECT range AS n, 'r' || range AS label FROM range(3)"), "n,label\r\n0,r0\r\n1,r1\r\n2,r2\r\n");
}

TEST_F(ArrowCsv, EmptyResultIsJustTheHeader) {
  EXPECT_EQ(csv("SELECT 1 AS a, 'x' AS \"b c\" WHERE false"), "a,b c\r\n");
}

TEST_F(ArrowCsv, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(csv("SELECT 'a,b' AS x, 'say \"hi\"' AS y, 'two' || chr(10) || 'lines' AS z, 'cr' || chr(13) AS w, "
                "'plain text' AS v"),
            "x,y,z,w,v\r\n\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\",plain text\r\n");
}

TEST_F(ArrowCsv, NullIsEmptyAndEmptyStringIsQuoted) {
  EXPECT_EQ(csv("SELECT NULL::VARCHAR AS a, '' AS b, NULL::INTEGER AS c, 1 AS d"), "a,b,c,d\r\n,\"\",,1\r\n");
}

TEST_F(ArrowCsv, FormulasInTextColumnsAreNeutralized) {
  std::string out = csv(
      "SELECT '=HYPERLINK(\"http://x\")' AS a, '+1' AS b, '-5' AS c, '@SUM(A1)' AS d, chr(9) || 'tab' AS e, "
      "chr(13) || 'cr' AS f, 'safe=1' AS g, -5 AS h, -1.5::DECIMAL(4,1) AS i, -2.5::DOUBLE AS j, "
      "'=x'::BLOB AS k, '-'::ENUM('-', '+') AS l");
  auto records = parse_csv(out);
  ASSERT_EQ(records.size(), 2u);
  const std::vector<std::string> expected = {"'=HYPERLINK(\"http://x\")", "'+1", "'-5", "'@SUM(A1)", "'\ttab",
                                             "'\rcr", "safe=1", "-5", "-1.5", "-2.5", "PXg=", "'-"};
  ASSERT_EQ(records[1].size(), expected.size());
  for (size_t c = 0; c < expected.size(); ++c) EXPECT_EQ(records[1][c], expected[c]) << "column " << c;
}

TEST_F(ArrowCsv, HeaderNamesAreNeutralizedToo) {
  EXPECT_EQ(csv("SELECT 1 AS \"=cmd()\", 2 AS \"ok\""), "'=cmd(),ok\r\n1,2\r\n");
}

TEST_F(ArrowCsv, HostileStringsRoundTrip) {
  const std::vector<std::string> values = {"say \"hi\", ok", "line\nbreak", "crlf\r\nend", std::string("nul\0b", 5),
                                           "ünïcödé 日本語 🎉", "\"", ",", "", "trailing space "};
  std::string sql = "SELECT s FROM (VALUES ";
  for (size_t i = 0; i < values.size(); ++i) {
    std::string literal;
    for (char ch : values[i]) {
      if (ch == '\0') literal += "' || chr(0) || '";
      else if (ch == '\'') literal += "''";
      else literal += ch;
    }
    sql += (i ? ", (" : "(") + std::to_string(i) + ", '" + literal + "')";
  }
  sql += ") v(id, s) ORDER BY id";
  auto records = parse_csv(csv(sql));
  ASSERT_EQ(records.size(), values.size() + 1);
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(records[i + 1][0], values[i]) << i;
}

TEST_F(ArrowCsv, TypedValuesAsText) {
  auto records = parse_csv(csv(
      "SELECT 12.50::DECIMAL(10,2) AS dec, DATE '2024-03-01' AS d, TIMESTAMP '2024-03-01 12:00:00.5' AS ts, "
      "TIMESTAMPTZ '2024-03-01 12:00:00+00' AS tz, true AS b, 'nan'::DOUBLE AS nan, 9007199254740993::BIGINT AS big, "
      "[1, 2] AS l, {'a': 'x,y'} AS st, 'ok'::ENUM('ok') AS e, INTERVAL 90 MINUTE AS iv"));
  ASSERT_EQ(records.size(), 2u);
  const std::vector<std::string> expected = {"12.50", "2024-03-01", "2024-03-01T12:00:00.500", "2024-03-01T12:00:00Z",
                                             "true", "NaN", "9007199254740993", "[1,2]", "{\"a\":\"x,y\"}", "ok",
                                             "PT1H30M"};
  ASSERT_EQ(records[1].size(), expected.size());
  for (size_t c = 0; c < expected.size(); ++c) EXPECT_EQ(records[1][c], expected[c]) << "column " << c;
}

TEST_F(ArrowCsv, MultiBatchAndSlicedResults) {
  const char* sql = "SELECT range AS i, CASE WHEN range % 2 = 0 THEN NULL ELSE range END AS odd FROM range(5000)";
  auto all = parse_csv(csv(sql));
  ASSERT_EQ(all.size(), 5001u);
  EXPECT_EQ(all[5000][0], "4999");
  EXPECT_EQ(all[5000][1], "4999");
  EXPECT_EQ(all[4999][1], std::nullopt);
  auto sliced = parse_csv(csv(sql, 2100));
  ASSERT_EQ(sliced.size(), 2101u);
  EXPECT_EQ(sliced[2100][0], "2099");
}

TEST_F(ArrowCsv, UnsupportedFormatIsAnError) {
  ASSERT_TRUE(conn_->execute("SET arrow_output_version = '1.4'").has_value());
  ASSERT_TRUE(conn_->execute("SET produce_arrow_string_view = true").has_value());
  auto out = conn_->query("SELECT 'x' AS s", 10);
  ASSERT_TRUE(out.has_value());
  auto rendered = write_csv(out->table);
  ASSERT_FALSE(rendered.has_value());
  EXPECT_EQ(rendered.error().kind, ErrorKind::Internal);
}

}  // namespace
}  // namespace sightline::arrow
