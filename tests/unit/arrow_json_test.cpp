// JSON rows from Arrow results, and the value formatting shared with CSV (arrow/text_values.h).
#include "arrow/json_writer.h"

#include <gtest/gtest.h>

#include "duckdb_fixture.h"

#include <nlohmann/json.hpp>

#include "arrow/text_values.h"
#include "engine/duckdb.h"

namespace sightline::arrow {
namespace {

using json = nlohmann::json;

class ArrowJson : public testing::DuckDBTest {
 protected:
  // The JSON text of a query's result.
  std::string text(const std::string& sql, int64_t max_rows = 1'000'000) {
    auto out = query(sql, max_rows);
    auto rendered = write_json_rows(out.table);
    EXPECT_TRUE(rendered.has_value()) << (rendered ? "" : rendered.error().message);
    return rendered ? *rendered : "";
  }
  // The parsed result (also proves the text is valid JSON).
  json rows(const std::string& sql, int64_t max_rows = 1'000'000) {
    return json::parse(text(sql, max_rows))["rows"];
  }
};

TEST_F(ArrowJson, ShapeIsColumnsAndRowArrays) {
  EXPECT_EQ(text("SELECT 1::BIGINT AS n, 'a' AS s UNION ALL SELECT NULL, 'b' ORDER BY s"),
            R"({"columns":[{"name":"n","type":"int64"},{"name":"s","type":"utf8"}],"rows":[[1,"a"],[null,"b"]]})");
}

TEST_F(ArrowJson, EmptyResultHasColumnsAndNoRows) {
  EXPECT_EQ(text("SELECT 1 AS a, 'x' AS b WHERE false"),
            R"({"columns":[{"name":"a","type":"int32"},{"name":"b","type":"utf8"}],"rows":[]})");
}

TEST_F(ArrowJson, EveryTypeAndItsNull) {
  auto r = rows(R"(
SELECT * FROM (VALUES
  (true, -8::TINYINT, -16::SMALLINT, -32::INTEGER, -64::BIGINT, 8::UTINYINT, 16::USMALLINT, 32::UINTEGER,
   64::UBIGINT, 1.5::FLOAT, -2.25::DOUBLE, 12.50::DECIMAL(10,2), 'text', 'bin'::BLOB, DATE '2024-03-01',
   TIME '12:34:56', TIMESTAMP '2024-03-01 12:00:00', TIMESTAMP_S '2024-03-01 12:00:01',
   TIMESTAMP_MS '2024-03-01 12:00:00.250', TIMESTAMP_NS '2024-03-01 12:00:00.000000001',
   TIMESTAMPTZ '2024-03-01 12:00:00+02', INTERVAL '1 year 2 months 3 days 04:05:06', [1, NULL], {'a': 1, 'b': 'x'},
   MAP {'k': 1}, [1, 2]::INTEGER[2], 'ok'::ENUM('ok', 'bad')),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
))");
  ASSERT_EQ(r.size(), 2u);
  const json expected = json::parse(R"([
    true, -8, -16, -32, -64, 8, 16, 32, 64, 1.5, -2.25, 12.5, "text", "Ymlu", "2024-03-01", "12:34:56",
    "2024-03-01T12:00:00", "2024-03-01T12:00:01", "2024-03-01T12:00:00.250", "2024-03-01T12:00:00.000000001",
    "2024-03-01T10:00:00Z", "P1Y2M3DT4H5M6S", [1, null], {"a": 1, "b": "x"}, [{"key": "k", "value": 1}], [1, 2], "ok"
  ])");
  ASSERT_EQ(r[0].size(), expected.size());
  for (size_t c = 0; c < expected.size(); ++c) EXPECT_EQ(r[0][c], expected[c]) << "column " << c;
  for (size_t c = 0; c < expected.size(); ++c) EXPECT_TRUE(r[1][c].is_null()) << "column " << c;
}

TEST_F(ArrowJson, IntegersBeyondDoublePrecisionAreStrings) {
  auto r = rows("SELECT 9007199254740991::BIGINT a, 9007199254740992::BIGINT b, -9007199254740991::BIGINT c, "
                "-9007199254740992::BIGINT d, 18446744073709551615::UBIGINT e, 4294967295::UINTEGER f, 0::UBIGINT g");
  EXPECT_TRUE(r[0][0].is_number());
  EXPECT_EQ(r[0][0].get<int64_t>(), 9007199254740991);
  EXPECT_EQ(r[0][1], "9007199254740992");
  EXPECT_TRUE(r[0][2].is_number());
  EXPECT_EQ(r[0][3], "-9007199254740992");
  EXPECT_EQ(r[0][4], "18446744073709551615");
  EXPECT_EQ(r[0][5].get<int64_t>(), 4294967295);
  EXPECT_EQ(r[0][6].get<int64_t>(), 0);
}

TEST_F(ArrowJson, DoublesAndTheirLimits) {
  auto r = rows("SELECT 'nan'::DOUBLE a, 'inf'::DOUBLE b, '-inf'::FLOAT c, 0.1::DOUBLE d, 0.1::FLOAT e, "
                "1e300::DOUBLE f, -0.0::DOUBLE g, 5e-324::DOUBLE h");
  EXPECT_TRUE(r[0][0].is_null());
  EXPECT_TRUE(r[0][1].is_null());
  EXPECT_TRUE(r[0][2].is_null());
  EXPECT_EQ(r[0][3].get<double>(), 0.1);
  EXPECT_EQ(r[0][4].get<double>(), 0.1) << "float32 written in its own shortest form";
  EXPECT_EQ(r[0][5].get<double>(), 1e300);
  EXPECT_EQ(r[0][7].get<double>(), 5e-324);
}

TEST_F(ArrowJson, DecimalsAreExactNumbers) {
  std::string t = text(
      "SELECT 12.50::DECIMAL(10,2) a, -0.05::DECIMAL(4,2) b, 0.0000000001::DECIMAL(38,10) c, "
      "'-1234567890123456789012345678.0123456789'::DECIMAL(38,10) d, 0::DECIMAL(9,3) e, "
      "12345678901234567890::HUGEINT f, -42::HUGEINT g");
  EXPECT_NE(t.find(R"("rows":[[12.50,-0.05,0.0000000001,-1234567890123456789012345678.0123456789,0.000,)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find(R"("12345678901234567890",-42]])"), std::string::npos) << "HUGEINT beyond 2^53 is a string: " << t;
}

TEST_F(ArrowJson, TemporalValuesAreIso8601) {
  auto r = rows(R"(SELECT DATE '1969-12-31' a, DATE '0001-01-01' b, DATE '9999-12-31' c,
    TIMESTAMP '1969-12-31 23:59:59.999999' d, TIMESTAMP '2024-03-01 00:00:00' e, TIMESTAMPTZ '2024-03-01 00:00:00.5+00' f,
    TIME '23:59:59.999999' g, TIME '00:00:00' h, INTERVAL '-1 day' i, INTERVAL '-00:00:01.5' j, '2024-02-29'::DATE k)");
  const json expected = json::parse(R"([["1969-12-31", "0001-01-01", "9999-12-31", "1969-12-31T23:59:59.999999",
    "2024-03-01T00:00:00", "2024-03-01T00:00:00.500Z", "23:59:59.999999", "00:00:00", "P-1D", "PT-1.500S",
    "2024-02-29"]])");
  EXPECT_EQ(r, expected);
}

TEST_F(ArrowJson, HostileStringsRoundTrip) {
  const char* sql = R"(SELECT s FROM (VALUES
    (1, 'say "hi"'), (2, 'back\slash'), (3, 'line' || chr(10) || 'break' || chr(13)), (4, 'nul' || chr(0) || 'byte'),
    (5, 'ctl' || chr(1) || chr(31) || chr(127)), (6, 'ünïcödé 日本語 🎉'), (7, chr(8232) || chr(8233)), (8, ''),
    (9, '</script><script>alert(1)</script>')) v(id, s) ORDER BY id)";
  auto r = rows(sql);
  const std::vector<std::string> expected = {"say \"hi\"", "back\\slash", "line\nbreak\r", std::string("nul\0byte", 8),
                                             "ctl\x01\x1f\x7f", "ünïcödé 日本語 🎉", "\u2028\u2029", "",
                                             "</script><script>alert(1)</script>"};
  ASSERT_EQ(r.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(r[i][0].get<std::string>(), expected[i]) << i;
  std::string t = text(sql);
  EXPECT_NE(t.find(R"("nul\u0000byte")"), std::string::npos);
  EXPECT_NE(t.find(R"("ctl\u0001\u001f)"), std::string::npos);
}

TEST_F(ArrowJson, NestedValuesAndEnums) {
  auto r = rows(R"(SELECT [[1], [], NULL] AS ll, [{'n': 1, 'v': NULL}] AS ls, {'l': [1], 's': {'x': 'y'}} AS ss,
                          MAP {'a': [1, 2]} AS m, ['b', 'a']::ENUM('a', 'b')[] AS le)");
  EXPECT_EQ(r, json::parse(R"([[[[1], [], null], [{"n": 1, "v": null}], {"l": [1], "s": {"x": "y"}},
                                [{"key": "a", "value": [1, 2]}], ["b", "a"]]])"));
}

TEST_F(ArrowJson, MultiBatchAndSlicedResultsKeepRowOrder) {
  const char* sql = "SELECT range AS i, CASE WHEN range % 3 = 0 THEN NULL ELSE 'v' || range END AS s FROM range(5000)";
  auto all = rows(sql);
  ASSERT_EQ(all.size(), 5000u);
  for (int64_t i = 0; i < 5000; i += 997) {
    EXPECT_EQ(all[i][0].get<int64_t>(), i);
    if (i % 3 == 0) EXPECT_TRUE(all[i][1].is_null());
    else EXPECT_EQ(all[i][1].get<std::string>(), "v" + std::to_string(i));
  }
  auto sliced = rows(sql, 1000);
  ASSERT_EQ(sliced.size(), 1000u);
  EXPECT_EQ(sliced[999][0].get<int64_t>(), 999);
  auto across = rows(sql, 3000);
  ASSERT_EQ(across.size(), 3000u);
  EXPECT_EQ(across[2999][1].get<std::string>(), "v2999");
}

TEST_F(ArrowJson, UnsupportedFormatIsAnError) {
  ASSERT_TRUE(conn_->execute("SET arrow_output_version = '1.4'").has_value());
  ASSERT_TRUE(conn_->execute("SET arrow_output_list_view = true").has_value());
  auto out = conn_->query("SELECT [1, 2] AS l", 10);
  ASSERT_TRUE(out.has_value());
  auto rendered = write_json_rows(out->table);
  ASSERT_FALSE(rendered.has_value());
  EXPECT_NE(rendered.error().message.find("'+vl'"), std::string::npos) << rendered.error().message;
}

// --- value formatting ---------------------------------------------------------------------------

std::string decimal_text(const std::vector<uint8_t>& bytes, int bits, int scale) {
  std::string out;
  append_decimal(out, bytes.data(), bits, scale);
  return out;
}

template <class T>
std::vector<uint8_t> le_bytes(T value, size_t width) {
  std::vector<uint8_t> out(width, value < 0 ? 0xFF : 0x00);
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

TEST(ArrowTextValues, DecimalsOfEveryWidth) {
  EXPECT_EQ(decimal_text(le_bytes<int32_t>(-12345, 4), 32, 2), "-123.45");
  EXPECT_EQ(decimal_text(le_bytes<int32_t>(5, 4), 32, 3), "0.005");
  EXPECT_EQ(decimal_text(le_bytes<int64_t>(INT64_MIN, 8), 64, 0), "-9223372036854775808");
  EXPECT_EQ(decimal_text(le_bytes<int64_t>(0, 8), 64, 4), "0.0000");
  EXPECT_EQ(decimal_text(le_bytes<int64_t>(7, 16), 128, -2), "700");
  EXPECT_EQ(decimal_text(le_bytes<int64_t>(-1, 32), 256, 1), "-0.1");
  // 2^127 - 1 and -2^127 in 128 bits.
  std::vector<uint8_t> max128(16, 0xFF), min128(16, 0x00);
  max128[15] = 0x7F;
  min128[15] = 0x80;
  EXPECT_EQ(decimal_text(max128, 128, 0), "170141183460469231731687303715884105727");
  EXPECT_EQ(decimal_text(min128, 128, 38), "-1.70141183460469231731687303715884105728");
  std::vector<uint8_t> big256(32, 0x00);
  big256[31] = 0x40;  // 2^254
  EXPECT_EQ(decimal_text(big256, 256, 0),
            "28948022309329048855892746252171976963317496166410141009864396001978282409984");
}

TEST(ArrowTextValues, DatesAndTimestamps) {
  std::string out;
  append_date(out, 0);
  EXPECT_EQ(out, "1970-01-01");
  out.clear();
  append_date(out, -719528);  // 0000-01-01
  EXPECT_EQ(out, "0000-01-01");
  out.clear();
  append_date(out, -719529);
  EXPECT_EQ(out, "-0001-12-31");
  out.clear();
  append_date(out, 2932897);  // 10000-01-01
  EXPECT_EQ(out, "+10000-01-01");
  out.clear();
  append_timestamp(out, -1, TimeUnit::Nanosecond, true);
  EXPECT_EQ(out, "1969-12-31T23:59:59.999999999Z");
  out.clear();
  append_timestamp(out, 1'500, TimeUnit::Millisecond, false);
  EXPECT_EQ(out, "1970-01-01T00:00:01.500");
  out.clear();
  append_timestamp(out, 86'400, TimeUnit::Second, false);
  EXPECT_EQ(out, "1970-01-02T00:00:00");
  out.clear();
  append_interval(out, -14, 0, 0);
  EXPECT_EQ(out, "P-1Y-2M");
  out.clear();
  append_interval(out, 0, 0, 3'600'000'000'001);
  EXPECT_EQ(out, "PT1H0.000000001S");
}

TEST(ArrowTextValues, StringsAreEscapedAndRepaired) {
  std::string out;
  append_json_string(out, std::string("a\"\\\n\x01\0z", 7));
  EXPECT_EQ(out, R"("a\"\\\n\u0001\u0000z")");
  out.clear();
  // A lone continuation byte, a truncated sequence, an overlong encoding and a surrogate.
  append_json_string(out, "x\x80y\xE6\x97z\xC0\xAF\xED\xA0\x80");
  EXPECT_EQ(out, "\"x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  out.clear();
  append_valid_utf8(out, "ok \xF0\x9F\x8E\x89 \xFF");
  EXPECT_EQ(out, "ok \xF0\x9F\x8E\x89 \xEF\xBF\xBD");
}

TEST(ArrowTextValues, Base64) {
  auto b64 = [](std::string_view s) {
    std::string out;
    append_base64(out, s);
    return out;
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64(std::string("\xFB\xFF\0", 3)), "+/8A");
}

TEST(ArrowJsonHandBuilt, InvalidUtf8InStringsIsReplaced) {
  int32_t offsets[] = {0, 3};
  const char data[] = "a\xFF" "b";
  const void* column_buffers[] = {nullptr, offsets, data};
  ArrowArray column{};
  column.length = 1;
  column.n_buffers = 3;
  column.buffers = column_buffers;
  ArrowArray* columns[] = {&column};
  const void* batch_buffers[] = {nullptr};
  Table table;
  {
    // Schema and batch live in static storage here; the Owned wrappers only need a release callback.
    static ArrowSchema column_schema{};
    column_schema.format = "u";
    column_schema.name = "s";
    static ArrowSchema* schema_children[] = {&column_schema};
    ArrowSchema* schema = table.schema.out();
    *schema = ArrowSchema{};
    schema->format = "+s";
    schema->name = "";
    schema->n_children = 1;
    schema->children = schema_children;
    schema->release = [](ArrowSchema* s) { s->release = nullptr; };
  }
  OwnedArray batch;
  ArrowArray* raw = batch.out();
  *raw = ArrowArray{};
  raw->length = 1;
  raw->n_buffers = 1;
  raw->buffers = batch_buffers;
  raw->n_children = 1;
  raw->children = columns;
  raw->release = [](ArrowArray* a) { a->release = nullptr; };
  table.batches.push_back(std::move(batch));
  table.num_rows = 1;
  auto rendered = write_json_rows(table);
  ASSERT_TRUE(rendered.has_value()) << rendered.error().message;
  EXPECT_EQ(json::parse(*rendered)["rows"][0][0].get<std::string>(), "a\xEF\xBF\xBD" "b");

  // Offsets that point backwards are reported, not read.
  offsets[1] = -1;
  auto broken = write_json_rows(table);
  ASSERT_FALSE(broken.has_value());
  EXPECT_NE(broken.error().message.find("'s'"), std::string::npos) << broken.error().message;
}

}  // namespace
}  // namespace sightline::arrow
