// arrow_dump <out_dir>: writes, for a fixed list of named DuckDB queries, <name>.arrows (the
// result encoded by Sightline's IPC stream writer) and <name>.json (the values DuckDB itself
// computes for the same rows, as text, independently of Sightline's writers). The JS conformance
// test (tests/js/arrow_conformance.mjs) decodes every .arrows with apache-arrow and compares.
//
// <name>.json:
//   {"name": ..., "large": bool, "num_rows": N,
//    "columns": [{"name", "sql_type" (coarse, e.g. "DECIMAL(10,2)", "LIST"), "full_type"
//                 (DESCRIBE's, e.g. "INTEGER[]"), "arrow_format" (DuckDB's C-interface format),
//                 "metadata": {key: value}}],
//    "rows": [[cell, ...], ...]}   cells: strings (see expected_expression) or null
//
// Exit status 0 on success; 1 with a message on stderr otherwise.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arrow/ipc_writer.h"
#include "arrow/types.h"
#include "engine/duckdb.h"

namespace {

using sightline::Result;
using sightline::engine::Connection;
using sightline::engine::QueryOutput;
using sightline::engine::quote_identifier;
using json = nlohmann::json;

enum class Transform {
  None,
  OffsetColumns,     // the first batch's columns get offset += shift (rows [shift, ...) remain)
  OffsetBatch,       // the first batch (the struct) gets offset += shift
  AppendSecondQuery, // the batches of `second_sql` are appended (same schema, other dictionaries)
};

struct Case {
  std::string name;
  std::string sql;
  int64_t max_rows = 1'000'000;
  std::string setup;     // run before `sql`
  std::string teardown;  // run after `sql`, before the expected values are computed
  bool large = false;    // the setup turns on large (64-bit offset) strings and lists
  Transform transform = Transform::None;
  int64_t shift = 0;
  std::string second_sql;
};

// Casts of every hostile string to its own column would be noisy; one VALUES list per case.
std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({.name = "primitives",
               .sql = R"(
SELECT id, CAST(b AS BOOLEAN) AS b, CAST(i8 AS TINYINT) AS i8, CAST(i16 AS SMALLINT) AS i16,
       CAST(i32 AS INTEGER) AS i32, CAST(i64 AS BIGINT) AS i64, CAST(u8 AS UTINYINT) AS u8,
       CAST(u16 AS USMALLINT) AS u16, CAST(u32 AS UINTEGER) AS u32, CAST(u64 AS UBIGINT) AS u64,
       CAST(f32 AS FLOAT) AS f32, CAST(f64 AS DOUBLE) AS f64, CAST(h AS HUGEINT) AS h
FROM (VALUES
  (1, 'true', '-128', '-32768', '-2147483648', '-9223372036854775808', '0', '0', '0', '0', '-3.5', '-1e300',
      '-12345678901234567890123456789012345678'),
  (2, 'false', '127', '32767', '2147483647', '9223372036854775807', '255', '65535', '4294967295',
      '18446744073709551615', '3.4e38', '2.2250738585072014e-308', '12345678901234567890123456789012345678'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, 'true', '0', '0', '0', '9007199254740993', '1', '1', '1', '9007199254740993', '0.1', '0.1', '0'),
  (5, NULL, '-1', NULL, '-1', NULL, '7', NULL, '7', NULL, 'nan', 'inf', '-1'),
  (6, 'false', NULL, '5', NULL, '-9007199254740993', NULL, '5', NULL, '5', '-inf', '-0.0', NULL),
  (7, 'true', '42', '-42', '123456', '-123456789012', '200', '60000', '4000000000', '10000000000000000000',
      '1.17549435e-38', '5e-324', '9007199254740993')
) v(id, b, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, h)
ORDER BY id)"});
  c.push_back({.name = "decimals",
               .sql = R"(
SELECT id, CAST(a AS DECIMAL(4,1)) AS d4_1, CAST(a AS DECIMAL(9,3)) AS d9_3, CAST(b AS DECIMAL(18,6)) AS d18_6,
       CAST(e AS DECIMAL(10,2)) AS d10_2, CAST(c AS DECIMAL(38,10)) AS d38_10, CAST(c AS DECIMAL(38,0)) AS d38_0
FROM (VALUES
  (1, '0', '0', '0', '0'),
  (2, '-1.5', '-1.5', '-1.5', '-1.5'),
  (3, NULL, NULL, NULL, NULL),
  (4, '999.9', '123456789012.345678', '1234567890123456789012345678.0123456789', '99999999.99'),
  (5, '-999.9', '-123456789012.345678', '-1234567890123456789012345678.0123456789', '-99999999.99'),
  (6, '0.1', '0.000001', '0.0000000001', '0.01'),
  (7, '-0.1', '-0.01', '-0.0000000001', '-0.05'),
  (8, NULL, '42', NULL, '1234.5')
) v(id, a, b, c, e)
ORDER BY id)"});
  c.push_back({.name = "strings",
               .sql = R"(
SELECT id, s, CAST(bl AS BLOB) AS bl, CAST(u AS UUID) AS u
FROM (VALUES
  (1, 'plain', 'abc', '00000000-0000-0000-0000-000000000000'),
  (2, '', '', 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
  (3, NULL, NULL, NULL),
  (4, 'say "hi"', '\x00\xFF\x10', '123e4567-e89b-12d3-a456-426614174000'),
  (5, 'comma, separated; ' || chr(10) || 'new line' || chr(13) || chr(10) || 'crlf' || chr(9) || 'tab', '\x22', NULL),
  (6, 'nul' || chr(0) || 'byte' || chr(1) || chr(31), NULL, NULL),
  (7, 'ünïcödé 日本語 🎉 ' || chr(8232) || ' \u', '\xC3\xBC', NULL),
  (8, '=1+2', '=', NULL),
  (9, '-5', NULL, NULL),
  (10, '@SUM(A1)', NULL, NULL),
  (11, repeat('long', 2500), repeat('\xAB', 3000), NULL),
  (12, '\ backslash / slash', NULL, NULL)
) v(id, s, bl, u)
ORDER BY id)"});
  c.push_back({.name = "temporal",
               .sql = R"(
SELECT id, CAST(d AS DATE) AS d, CAST(t AS TIME) AS t, CAST(ts AS TIMESTAMP) AS ts,
       CAST(ts AS TIMESTAMP_S) AS ts_s, CAST(ts AS TIMESTAMP_MS) AS ts_ms, CAST(ts AS TIMESTAMP_NS) AS ts_ns,
       CAST(tz AS TIMESTAMPTZ) AS ts_tz, CAST(i AS INTERVAL) AS i
FROM (VALUES
  (1, '2024-03-01', '12:00:00', '2024-03-01 12:00:00', '2024-03-01 12:00:00+00', '1 year 2 months 3 days 04:05:06.789'),
  (2, '1969-12-31', '00:00:00', '1969-12-31 23:59:59.999999', '1969-12-31 23:59:59.5+00', '-1 day'),
  (3, NULL, NULL, NULL, NULL, NULL),
  (4, '0001-01-01', '23:59:59.999999', '1900-01-01 00:00:00', '2024-03-01 12:00:00+02', '0 seconds'),
  (5, '9999-12-31', '12:34:56.5', '2262-04-11 23:47:16', '2000-02-29 00:00:00.123456+00', '-01:00:00.5'),
  (6, '2024-02-29', '00:00:00.000001', '2024-03-01 12:00:00.123456789', NULL, '100 months -5 days 00:00:00.000001'),
  (7, '1970-01-01', NULL, '1677-09-22 00:00:00', '1970-01-01 00:00:00+00', NULL)
) v(id, d, t, ts, tz, i)
ORDER BY id)"});
  c.push_back({.name = "nested",
               .sql = R"(
SELECT id, l, ls, s, ll, sl, m, a, lsd
FROM (VALUES
  (1, [1, 2, NULL], ['a', NULL, 'c"q'], {'a': 1, 'b': 'x'}, [[1], [], NULL, [2, 3]],
      {'l': [1, 2], 's': {'x': 1.5}}, MAP {'k1': 1, 'k2': NULL}, [1, 2]::INTEGER[2],
      [{'n': 1, 'v': 'one'}, NULL, {'n': NULL, 'v': NULL}]),
  (2, [], [], {'a': NULL, 'b': NULL}, [], {'l': [], 's': NULL}, MAP {}, [NULL, 3]::INTEGER[2], []),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, [7], ['ü', ''], {'a': -5, 'b': ''}, [[NULL]], {'l': NULL, 's': {'x': NULL}}, MAP {'': 0}, [4, 5]::INTEGER[2],
      [{'n': 2, 'v': 'two'}])
) v(id, l, ls, s, ll, sl, m, a, lsd)
ORDER BY id)"});
  c.push_back({.name = "enum_multibatch",
               .sql = R"(
SELECT range AS id,
       CASE WHEN range % 7 = 0 THEN NULL ELSE (['sad', 'ok', 'happy', 'ecstatic'])[range % 4 + 1] END::mood AS mood,
       CASE WHEN range % 11 = 0 THEN NULL ELSE [(['sad', 'ok'])[range % 2 + 1]::mood] END AS moods
FROM range(5000)
ORDER BY id)",
               .setup = "CREATE TYPE IF NOT EXISTS mood AS ENUM ('sad', 'ok', 'happy', 'ecstatic')"});
  const std::string multibatch_sql = R"(
SELECT range AS id,
       CASE WHEN range % 7 = 0 THEN NULL ELSE 'row ' || range END AS s,
       CASE WHEN range % 3 = 0 THEN NULL ELSE range % 2 = 0 END AS b,
       CASE WHEN range % 5 = 0 THEN NULL ELSE CAST(range AS DECIMAL(10,2)) / 4 END AS d,
       TIMESTAMP '2024-01-01' + INTERVAL (range) SECOND AS ts,
       CASE WHEN range % 4 = 0 THEN NULL ELSE [range, range + 1] END AS l,
       CASE WHEN range % 6 = 0 THEN NULL ELSE {'x': range, 'y': CASE WHEN range % 9 = 0 THEN NULL ELSE 'y' || range END} END AS st,
       CAST(range AS DOUBLE) / 8 AS f
FROM range(5000)
ORDER BY id)";
  c.push_back({.name = "multibatch", .sql = multibatch_sql});
  c.push_back({.name = "sliced_first_chunk", .sql = multibatch_sql, .max_rows = 1000});
  c.push_back({.name = "sliced_second_chunk", .sql = multibatch_sql, .max_rows = 3001});
  c.push_back({.name = "empty",
               .sql = R"(
SELECT 1::BIGINT AS i, 'x' AS s, 1.5::DECIMAL(10,2) AS d, DATE '2024-01-01' AS dt,
       TIMESTAMPTZ '2024-01-01 00:00:00+00' AS tz, 'ok'::mood AS mood, [1] AS l, {'a': 1} AS st
WHERE false)",
               .setup = "CREATE TYPE IF NOT EXISTS mood AS ENUM ('sad', 'ok', 'happy', 'ecstatic')"});
  c.push_back({.name = "large_buffers",
               .sql = R"(
SELECT id, s, CAST(bl AS BLOB) AS bl, l
FROM (VALUES
  (1, 'large', 'abc', ['x', NULL]),
  (2, NULL, NULL, NULL),
  (3, '', '', []),
  (4, 'ünï "q"', '\x00', ['y'])
) v(id, s, bl, l)
ORDER BY id)",
               .setup = "SET arrow_large_buffer_size = true",
               .teardown = "SET arrow_large_buffer_size = false",
               .large = true});
  const std::string offset_sql = R"(
SELECT range AS id,
       CASE WHEN range % 3 = 0 THEN NULL ELSE range % 2 = 1 END AS b,
       CASE WHEN range % 5 = 0 THEN NULL ELSE 'v' || range END AS s,
       CASE WHEN range % 4 = 0 THEN NULL ELSE range * 10 END AS n,
       CASE WHEN range % 6 = 0 THEN NULL ELSE [range, NULL, range + 1] END AS l,
       CASE WHEN range % 7 = 0 THEN NULL ELSE {'a': range, 'b': 's' || range} END AS st,
       CASE WHEN range % 9 = 0 THEN NULL ELSE CAST(range AS DECIMAL(9,2)) END AS dec
FROM range(100)
ORDER BY id)";
  c.push_back({.name = "offset_columns", .sql = offset_sql, .transform = Transform::OffsetColumns, .shift = 3});
  c.push_back({.name = "offset_batch", .sql = offset_sql, .transform = Transform::OffsetBatch, .shift = 13});
  c.push_back({.name = "dictionary_change",
               .sql = "SELECT range AS id, CASE WHEN range = 1 THEN NULL ELSE (['a', 'b'])[range % 2 + 1] END::ENUM('a', 'b') AS e "
                      "FROM range(3) ORDER BY id",
               .transform = Transform::AppendSecondQuery,
               .second_sql = "SELECT range + 3 AS id, (['x', 'y', 'z'])[range % 3 + 1]::ENUM('x', 'y', 'z') AS e "
                             "FROM range(4) ORDER BY id"});
  c.push_back({.name = "extras",
               .sql = R"(
SELECT id, CAST(u AS UHUGEINT) AS uh, un, NULL AS nothing
FROM (VALUES
  (1, '0', 1::UNION(num INTEGER, str VARCHAR)),
  (2, '340282366920938463463374607431768211455', 'text'::UNION(num INTEGER, str VARCHAR)),
  (3, NULL, NULL),
  (4, '18446744073709551616', (-7)::UNION(num INTEGER, str VARCHAR))
) v(id, u, un)
ORDER BY id)"});
  return c;
}

// The text DuckDB gives for a column of `sql_type`, as a SQL expression over `column`; the JS
// test turns the decoded Arrow value into the same text.
std::string expected_expression(const std::string& sql_type, const std::string& column) {
  auto cast = [](const std::string& e) { return "CAST(" + e + " AS VARCHAR)"; };
  if (sql_type == "FLOAT" || sql_type == "DOUBLE") return cast("CAST(" + column + " AS DOUBLE)");
  if (sql_type == "BLOB") return "hex(" + column + ")";
  if (sql_type == "TIME") return cast("datediff('microsecond', TIME '00:00:00', " + column + ")");
  if (sql_type == "TIMESTAMP" || sql_type == "TIMESTAMP WITH TIME ZONE") return cast("epoch_us(" + column + ")");
  if (sql_type == "TIMESTAMP_S") return cast("CAST(epoch(" + column + ") AS BIGINT)");
  if (sql_type == "TIMESTAMP_MS") return cast("epoch_ms(" + column + ")");
  if (sql_type == "TIMESTAMP_NS") return cast("epoch_ns(" + column + ")");
  if (sql_type == "INTERVAL") {
    // months,days,nanoseconds
    const std::string& c = column;
    return cast("datepart('year', " + c + ") * 12 + datepart('month', " + c + ")") + " || ',' || " +
           cast("datepart('day', " + c + ")") + " || ',' || " +
           cast("(datepart('hour', " + c + ") * 3600000000 + datepart('minute', " + c +
                ") * 60000000 + datepart('microsecond', " + c + ")) * 1000");
  }
  if (sql_type == "LIST" || sql_type == "STRUCT" || sql_type == "MAP" || sql_type == "ARRAY") {
    return cast("to_json(" + column + ")");
  }
  return cast(column);  // booleans, integers, decimals, strings, UUID, ENUM, DATE, UNION
}

// The values of a VARCHAR ("u") column of `output`, row by row; nullopt for nulls.
Result<std::vector<std::vector<std::optional<std::string>>>> read_text_rows(const QueryOutput& output) {
  std::vector<std::vector<std::optional<std::string>>> rows;
  for (const auto& owned : output.table.batches) {
    const ArrowArray& batch = *owned;
    for (int64_t r = 0; r < batch.length; ++r) {
      std::vector<std::optional<std::string>> row;
      for (int64_t c = 0; c < batch.n_children; ++c) {
        const ArrowArray& col = *batch.children[c];
        const std::string format = output.table.schema->children[c]->format;
        if (format != "u" && format != "U") {
          return sightline::fail(sightline::ErrorKind::Internal, "expected values must be VARCHAR");
        }
        const int64_t i = col.offset + batch.offset + r;
        const auto* validity = static_cast<const uint8_t*>(col.buffers[0]);
        if (validity && !sightline::arrow::get_bit(validity, i)) {
          row.push_back(std::nullopt);
          continue;
        }
        int64_t begin, end;
        if (format == "u") {
          begin = static_cast<const int32_t*>(col.buffers[1])[i];
          end = static_cast<const int32_t*>(col.buffers[1])[i + 1];
        } else {
          begin = static_cast<const int64_t*>(col.buffers[1])[i];
          end = static_cast<const int64_t*>(col.buffers[1])[i + 1];
        }
        row.push_back(std::string(static_cast<const char*>(col.buffers[2]) + begin, static_cast<size_t>(end - begin)));
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

// The C data interface metadata of a schema, as a JSON object.
json metadata_of(const ArrowSchema& schema) {
  json out = json::object();
  if (!schema.metadata) return out;
  const char* p = schema.metadata;
  auto read_i32 = [&] {
    int32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  };
  int32_t n = read_i32();
  for (int32_t i = 0; i < n; ++i) {
    int32_t kl = read_i32();
    std::string key(p, static_cast<size_t>(kl));
    p += kl;
    int32_t vl = read_i32();
    std::string value(p, static_cast<size_t>(vl));
    p += vl;
    out[key] = value;
  }
  return out;
}

ArrowArray& mutable_array(const sightline::arrow::OwnedArray& owned) { return const_cast<ArrowArray&>(*owned); }

Result<void> run_case(Connection& conn, const Case& c, const std::filesystem::path& dir) {
  using sightline::fail;
  using sightline::ErrorKind;
  auto check = [&](Result<void> r, const char* what) -> Result<void> {
    if (!r) return fail(ErrorKind::Internal, std::string(what) + ": " + r.error().message);
    return {};
  };
  if (!c.setup.empty()) {
    if (auto r = check(conn.execute(c.setup), "setup"); !r) return r;
  }
  auto output = conn.query(c.sql, c.max_rows);
  if (!output) return fail(ErrorKind::Internal, "query: " + output.error().message);
  auto describe = conn.query("DESCRIBE " + c.sql, 10'000);
  if (!describe) return fail(ErrorKind::Internal, "describe: " + describe.error().message);
  if (!c.teardown.empty()) {
    if (auto r = check(conn.execute(c.teardown), "teardown"); !r) return r;
  }
  auto full_types = read_text_rows(*describe);
  if (!full_types) return fail(full_types.error());

  // The rows the Arrow table will hold, as [begin, end) of the query's rows (plus, for
  // AppendSecondQuery, all rows of the second query).
  int64_t begin = 0;
  int64_t end = output->table.num_rows;
  auto& table = output->table;
  switch (c.transform) {
    case Transform::None: break;
    case Transform::OffsetColumns: {
      ArrowArray& batch = mutable_array(table.batches.at(0));
      for (int64_t i = 0; i < batch.n_children; ++i) {
        batch.children[i]->offset += c.shift;
        batch.children[i]->length -= c.shift;
        batch.children[i]->null_count = -1;
      }
      batch.length -= c.shift;
      table.num_rows -= c.shift;
      begin = c.shift;
      break;
    }
    case Transform::OffsetBatch: {
      ArrowArray& batch = mutable_array(table.batches.at(0));
      batch.offset += c.shift;
      batch.length -= c.shift;
      table.num_rows -= c.shift;
      begin = c.shift;
      break;
    }
    case Transform::AppendSecondQuery: {
      auto second = conn.query(c.second_sql, c.max_rows);
      if (!second) return fail(ErrorKind::Internal, "second query: " + second.error().message);
      for (auto& batch : second->table.batches) table.batches.push_back(std::move(batch));
      table.num_rows += second->table.num_rows;
      break;
    }
  }

  auto ipc = sightline::arrow::write_ipc_stream(table);
  if (!ipc) return fail(ErrorKind::Internal, "write_ipc_stream: " + ipc.error().message);

  // Expected values: DuckDB's own text for the same rows.
  json expected;
  expected["name"] = c.name;
  expected["large"] = c.large;
  expected["num_rows"] = table.num_rows;
  json columns = json::array();
  std::string select;
  for (size_t i = 0; i < output->columns.size(); ++i) {
    const auto& col = output->columns[i];
    json entry = {{"name", col.name}, {"sql_type", col.type}, {"full_type", *(*full_types)[i][1]}};
    entry["arrow_format"] = table.schema->children[i]->format;  // what DuckDB exported
    entry["metadata"] = metadata_of(*table.schema->children[i]);
    columns.push_back(entry);
    if (i) select += ", ";
    select += expected_expression(col.type, "q." + quote_identifier(col.name));
  }
  expected["columns"] = columns;
  json rows = json::array();
  auto add_rows = [&](const std::string& sql, int64_t first, int64_t last) -> Result<void> {
    std::string query = "SELECT " + select + " FROM (" + sql + ") AS q LIMIT " + std::to_string(last - first) +
                        " OFFSET " + std::to_string(first);
    if (select.empty()) return {};
    auto values = conn.query(query, 1'000'000);
    if (!values) return fail(ErrorKind::Internal, "expected values: " + values.error().message);
    auto text = read_text_rows(*values);
    if (!text) return fail(text.error());
    for (const auto& row : *text) {
      json r = json::array();
      for (const auto& cell : row) r.push_back(cell ? json(*cell) : json(nullptr));
      rows.push_back(std::move(r));
    }
    return {};
  };
  if (auto r = add_rows(c.sql, begin, end); !r) return r;
  if (c.transform == Transform::AppendSecondQuery) {
    if (auto r = add_rows(c.second_sql, 0, 1'000'000); !r) return r;
  }
  expected["rows"] = rows;
  if (static_cast<int64_t>(rows.size()) != table.num_rows) {
    return fail(ErrorKind::Internal, "expected " + std::to_string(table.num_rows) + " rows, DuckDB gave " +
                                         std::to_string(rows.size()));
  }

  std::ofstream(dir / (c.name + ".arrows"), std::ios::binary) << *ipc;
  std::ofstream(dir / (c.name + ".json"), std::ios::binary)
      << expected.dump(1, ' ', false, json::error_handler_t::strict);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: arrow_dump <out_dir>\n";
    return 1;
  }
  const std::filesystem::path dir = argv[1];
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::cerr << "arrow_dump: cannot create " << dir << ": " << ec.message() << "\n";
    return 1;
  }
  auto db = sightline::engine::Database::open(":memory:", {.threads = 1});
  if (!db) {
    std::cerr << "arrow_dump: " << db.error().message << "\n";
    return 1;
  }
  auto conn = sightline::engine::Connection::open(**db);
  if (!conn) {
    std::cerr << "arrow_dump: " << conn.error().message << "\n";
    return 1;
  }
  if (auto r = (*conn)->execute("SET TimeZone = 'UTC'"); !r) {
    std::cerr << "arrow_dump: " << r.error().message << "\n";
    return 1;
  }
  int written = 0;
  for (const Case& c : cases()) {
    if (auto r = run_case(**conn, c, dir); !r) {
      std::cerr << "arrow_dump: case '" << c.name << "': " << r.error().message << "\n";
      return 1;
    }
    ++written;
  }
  std::cout << "arrow_dump: wrote " << written << " cases to " << dir.string() << "\n";
  return 0;
}
