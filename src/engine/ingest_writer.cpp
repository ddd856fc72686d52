#include "engine/ingest_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>

#include "arrow/ipc_reader.h"
#include "engine/duckdb.h"
#include "engine/result_rows.h"

namespace sightline::engine {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
constexpr size_t kQuotedValueChars = 64;
// DuckDB's default longest CSV line (2 MiB); a body may hold a longer one in a single value.
constexpr size_t kDefaultMaxLineSize = 2 * 1024 * 1024;

// --- text -----------------------------------------------------------------------------------

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim_spaces(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points
// beyond U+10FFFF included), or npos when `s` is valid.
size_t utf8_error_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// `value` in single quotes, cut after kQuotedValueChars code points (then "…"). `value` is UTF-8.
std::string quoted_value(std::string_view value) {
  size_t chars = 0;
  size_t end = 0;
  while (end < value.size() && chars < kQuotedValueChars) {
    ++end;
    while (end < value.size() && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) ++end;
    ++chars;
  }
  return "'" + std::string(value.substr(0, end)) + (end < value.size() ? "…'" : "'");
}

// "a DECIMAL(12,2)", "an INTEGER".
std::string with_article(std::string_view type) {
  const char first = type.empty() ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(type[0])));
  return (std::string_view("AEIO").find(first) != std::string_view::npos ? "an " : "a ") + std::string(type);
}

std::string declared_names(const std::vector<IngestColumn>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + c.name;
  return out;
}

// The 1-based line of `body` that holds byte `position` (1-based, as DuckDB's CSV reader counts).
int64_t line_at(std::string_view body, int64_t position) {
  const auto end = static_cast<size_t>(std::clamp<int64_t>(position, 0, static_cast<int64_t>(body.size())));
  return 1 + std::count(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(end), '\n');
}

// How many fields the first record of a CSV body has (RFC 4180 quoting: a quoted field may hold
// commas and line breaks).
size_t first_record_fields(std::string_view body) {
  size_t fields = 1;
  bool quoted = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (quoted) {
      if (c == '"' && i + 1 < body.size() && body[i + 1] == '"')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      ++fields;
    } else if (c == '\n' || c == '\r') {
      break;
    }
  }
  return fields;
}

// --- errors ---------------------------------------------------------------------------------

tl::unexpected<Error> invalid(std::string message, std::string hint = {}) {
  return fail(ErrorKind::InvalidInput, std::move(message), std::move(hint));
}

tl::unexpected<Error> no_rows() {
  return invalid("no rows", "send at least one row: a CSV header line and rows under it, or one JSON object per line");
}

// A file operation failed: the public message says nothing of paths; the detail does.
tl::unexpected<Error> storage_failure(std::string_view what, const fs::path& path, int error) {
  return fail_with_detail(ErrorKind::Unavailable, "the batch could not be stored", "try again later",
                          std::string(what) + " " + path.string() + ": " + std::strerror(error));
}

// The engine failed where the body cannot be the cause.
tl::unexpected<Error> engine_failure(const Error& e) {
  return fail_with_detail(ErrorKind::Internal, "the batch could not be stored", "", e.for_author());
}

// --- private files --------------------------------------------------------------------------

// A folder this call made (mkdtemp: a fresh name, mode 0700) and everything in it; removed when
// the object dies. Not copyable or movable: it lives on the stack of one call.
class PrivateDir {
 public:
  explicit PrivateDir(fs::path path) : path_(std::move(path)) {}
  ~PrivateDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  const fs::path& path() const { return path_; }

  static Result<std::unique_ptr<PrivateDir>> create(const fs::path& parent) {
    std::string pattern = (parent / "ingest-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) return storage_failure("cannot create a folder in", parent, errno);
    return std::make_unique<PrivateDir>(fs::path(pattern));
  }

 private:
  fs::path path_;
};

// A file this call made (mkostemp: a fresh name, mode 0600); removed when the object dies unless
// kept (after it was renamed to its final name). Not copyable or movable.
class PrivateFile {
 public:
  explicit PrivateFile(fs::path path) : path_(std::move(path)) {}
  ~PrivateFile() {
    std::error_code ignored;
    if (!kept_) fs::remove(path_, ignored);
  }
  PrivateFile(const PrivateFile&) = delete;
  PrivateFile& operator=(const PrivateFile&) = delete;
  const fs::path& path() const { return path_; }
  void keep() { kept_ = true; }

  // An empty file named `<dir>/<prefix>XXXXXX`.
  static Result<std::unique_ptr<PrivateFile>> create(const fs::path& dir, const std::string& prefix) {
    std::string pattern = (dir / (prefix + "XXXXXX")).string();
    const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd < 0) return storage_failure("cannot create a file in", dir, errno);
    ::close(fd);
    return std::make_unique<PrivateFile>(fs::path(pattern));
  }

 private:
  fs::path path_;
  bool kept_ = false;
};

// Writes `text` to a new file `path` (mode 0600; it must not exist).
Result<void> write_new_file(const fs::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return storage_failure("cannot create", path, errno);
  int error = 0;
  for (size_t done = 0; done < text.size() && error == 0;) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno != EINTR) error = errno;
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) return storage_failure("cannot write", path, error);
  return {};
}

// fsync of a file or (with O_DIRECTORY) a folder.
Result<void> sync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return storage_failure("cannot open", path, errno);
  int error = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  if (error != 0) return storage_failure("cannot sync", path, error);
  return {};
}

// Makes the finished temporary file `temp` the file `target`, durably: the file's data is synced,
// then it is renamed over `target`, then the folder is synced. On failure `target` is absent
// (removed again if the folder sync failed after the rename).
Result<void> publish(PrivateFile& temp, const fs::path& target) {
  if (auto synced = sync_path(temp.path(), 0); !synced) return synced;
  if (::rename(temp.path().c_str(), target.c_str()) != 0) return storage_failure("cannot rename to", target, errno);
  temp.keep();
  if (auto synced = sync_path(target.parent_path(), O_DIRECTORY); !synced) {
    std::error_code ignored;
    fs::remove(target, ignored);
    return synced;
  }
  return {};
}

// --- the private engine ---------------------------------------------------------------------

// An in-memory DuckDB for one batch. `conn` is declared last so that it closes first.
struct BatchEngine {
  std::unique_ptr<Database> db;
  std::unique_ptr<Connection> conn;
};

// One thread, UTC (TIMESTAMPTZ text without an offset), spills in `work_dir`, and then locked
// down to the files in `sandbox`. lock_down does not get in COPY's way: an unrestricted
// connection may COPY TO an allowed path, as long as DuckDB writes it directly (USE_TMP_FILE
// false; see copy_to_parquet).
Result<BatchEngine> open_engine(const fs::path& work_dir, const Sandbox& sandbox) {
  BatchEngine engine;
  auto db = Database::open(":memory:", {.threads = 1, .temp_directory = work_dir.string()});
  if (!db) return engine_failure(db.error());
  engine.db = std::move(*db);
  auto conn = Connection::open(*engine.db);
  if (!conn) return engine_failure(conn.error());
  engine.conn = std::move(*conn);
  if (auto utc = engine.conn->execute("SET TimeZone = 'UTC'"); !utc) return engine_failure(utc.error());
  if (auto locked = lock_down(*engine.conn, sandbox); !locked) return engine_failure(locked.error());
  return engine;
}

Result<void> run(Connection& conn, const std::string& sql) {
  if (auto done = conn.execute(sql); !done) return engine_failure(done.error());
  return {};
}

Result<json> rows(Connection& conn, const std::string& sql) {
  auto out = conn.query(sql, 1'000'000);
  if (!out) return engine_failure(out.error());
  auto got = rows_of(*out);
  if (!got) return engine_failure(got.error());
  return got;
}

Result<int64_t> count(Connection& conn, const std::string& sql) {
  auto got = rows(conn, sql);
  if (!got) return fail(got.error());
  auto n = got->size() == 1 && (*got)[0].size() == 1 ? as_count((*got)[0][0]) : std::nullopt;
  if (!n) return fail_with_detail(ErrorKind::Internal, "the batch could not be stored", "", "no count in the result of: " + sql);
  return *n;
}

// Statements that read the caller's body: their failure is the body's (DuckDB's words in detail).
Result<void> read_body(Connection& conn, const std::string& sql, IngestFormat format) {
  if (auto done = conn.execute(sql); !done)
    return fail_with_detail(ErrorKind::InvalidInput, format == IngestFormat::Csv ? "the body could not be read as CSV" : "the body could not be read as NDJSON",
                            "", done.error().for_author());
  return {};
}

// The staging column of declared column i: its text ("v<i>") and, for NDJSON, whether that text
// is a JSON object or array ("n<i>").
std::string text_column(size_t i) {
  return "v" + std::to_string(i);
}
std::string nested_column(size_t i) {
  return "n" + std::to_string(i);
}

// --- declared columns -----------------------------------------------------------------------

Result<void> check_declared(const std::vector<IngestColumn>& columns) {
  if (columns.empty()) return fail(ErrorKind::Internal, "no columns are declared for this batch");
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name.empty() || columns[i].type.empty())
      return fail(ErrorKind::Internal, "declared column " + std::to_string(i + 1) + " has no name or no type");
    for (size_t j = 0; j < i; ++j)
      if (ascii_lower(columns[j].name) == ascii_lower(columns[i].name))
        return fail(ErrorKind::Internal, "column '" + columns[i].name + "' is declared twice");
  }
  return {};
}

// For each declared type, whether it is nested (LIST, STRUCT, MAP, ARRAY: JSON objects and
// arrays convert to it). Fails on a type DuckDB does not know.
Result<std::vector<bool>> nested_types(Connection& conn, const std::vector<IngestColumn>& columns) {
  std::vector<bool> nested;
  for (const auto& c : columns) {
    auto stmt = conn.prepare("SELECT CAST(NULL AS " + c.type + ")");
    if (!stmt || stmt->columns().size() != 1)
      return fail_with_detail(ErrorKind::Internal, "declared column '" + c.name + "' has a type the engine does not know", "",
                              stmt ? "" : stmt.error().for_author());
    const std::string type = stmt->columns()[0].type;
    nested.push_back(type == "LIST" || type == "STRUCT" || type == "MAP" || type == "ARRAY");
  }
  return nested;
}

// The declared position of each name the body uses, in the body's order; fails on the first name
// that is not declared.
Result<std::vector<size_t>> declared_positions(const std::vector<std::string>& names, const std::vector<IngestColumn>& columns) {
  std::vector<size_t> positions;
  for (const auto& name : names) {
    auto it = std::find_if(columns.begin(), columns.end(), [&](const IngestColumn& c) { return c.name == name; });
    if (it == columns.end()) return invalid("unknown column '" + name + "'", "the declared columns are: " + declared_names(columns));
    positions.push_back(static_cast<size_t>(it - columns.begin()));
  }
  return positions;
}

// --- CSV ------------------------------------------------------------------------------------

// Reads every record of the CSV file (the header too, as row 0) into table `raw`, columns c0..,
// all text. Records that do not parse are not loaded but listed in DuckDB's `reject_errors`.
Result<void> read_csv_records(Connection& conn, const fs::path& file, size_t fields, size_t body_size) {
  std::string names;
  for (size_t i = 0; i < fields; ++i) names += (i ? ", " : "") + quote_literal("c" + std::to_string(i)) + ": 'VARCHAR'";
  // Nothing is sniffed (auto_detect=false): the sniffer fails on a ragged file without saying
  // where, and would guess a comment character ('#'), rows to skip or another dialect.
  const std::string sql = "CREATE TABLE raw AS SELECT * FROM read_csv(" + quote_literal(file.string()) +
                          ", auto_detect = false, columns = {" + names +
                          "}, header = false, delim = ',', quote = '\"', escape = '\"', comment = '', skip = 0"
                          ", strict_mode = true, null_padding = false, compression = 'none', encoding = 'utf-8'"
                          ", store_rejects = true, max_line_size = " +
                          std::to_string(std::max(kDefaultMaxLineSize, body_size + 1)) + ")";
  return read_body(conn, sql, IngestFormat::Csv);
}

// The first record DuckDB could not parse, as an error naming its line in `body`.
Result<void> check_csv_rejects(Connection& conn, std::string_view body, size_t fields) {
  auto got = rows(conn, "SELECT line_byte_position, CAST(error_type AS VARCHAR) FROM reject_errors ORDER BY line, line_byte_position LIMIT 1");
  if (!got) return fail(got.error());
  if (got->empty()) return {};
  const auto& reject = (*got)[0];
  const std::string line = "line " + std::to_string(line_at(body, as_count(reject[0]).value_or(0)));
  const std::string kind = reject[1].is_string() ? reject[1].get<std::string>() : "";
  if (kind == "TOO MANY COLUMNS" || kind == "MISSING COLUMNS")
    return invalid(line + " does not have as many fields as the header (" + std::to_string(fields) + ")");
  if (kind == "UNQUOTED VALUE")
    return invalid(line + " has a quoted field that is not closed properly",
                   "RFC 4180: a field holding a comma, a quote or a line break is quoted whole, and a quote inside it is doubled");
  return invalid(line + " could not be read as CSV");
}

// The header's names, checked: none empty, none repeated.
Result<std::vector<std::string>> csv_header(Connection& conn, size_t fields) {
  std::string select;
  for (size_t i = 0; i < fields; ++i) select += (i ? ", c" : "c") + std::to_string(i);
  auto got = rows(conn, "SELECT " + select + " FROM raw WHERE rowid = 0");
  if (!got) return fail(got.error());
  if (got->size() != 1) return no_rows();
  std::vector<std::string> names;
  for (size_t i = 0; i < fields; ++i) {
    const json& v = (*got)[0][i];
    if (!v.is_string() || v.get<std::string>().empty())
      return invalid("field " + std::to_string(i + 1) + " of the header has no name", "the first line names the columns, e.g. id,amount,note");
    if (std::find(names.begin(), names.end(), v.get<std::string>()) != names.end())
      return invalid("column '" + v.get<std::string>() + "' appears twice in the header");
    names.push_back(v.get<std::string>());
  }
  return names;
}

// Stages a CSV body into `batch` (__row, v<i> per declared column); returns its rows.
Result<int64_t> stage_csv(Connection& conn, std::string_view body, const fs::path& file, const std::vector<IngestColumn>& columns) {
  if (is_blank(body.substr(0, body.find('\n'))))
    return invalid("the first line is blank", "the first line is a header naming the columns, e.g. id,amount,note");
  const size_t fields = first_record_fields(body);
  if (auto read = read_csv_records(conn, file, fields, body.size()); !read) return fail(read.error());
  if (auto parsed = check_csv_rejects(conn, body, fields); !parsed) return fail(parsed.error());
  auto header = csv_header(conn, fields);
  if (!header) return fail(header.error());
  auto positions = declared_positions(*header, columns);
  if (!positions) return fail(positions.error());
  std::string select = "rowid AS __row";
  for (size_t i = 0; i < columns.size(); ++i) {
    auto field = std::find(positions->begin(), positions->end(), i);
    select += ", " + (field == positions->end() ? "CAST(NULL AS VARCHAR)" : "c" + std::to_string(field - positions->begin())) + " AS " +
              text_column(i);
  }
  // Rows keep the file's order (one thread, insertion order preserved): rowid is the data row.
  if (auto staged = run(conn, "CREATE TABLE batch AS SELECT " + select + " FROM raw WHERE rowid > 0"); !staged) return fail(staged.error());
  return count(conn, "SELECT count(*) FROM batch");
}

// --- NDJSON ---------------------------------------------------------------------------------

// Splits the file into `lines` (line, kind, text): kind is BLANK, INVALID or the JSON type of the
// line (OBJECT, ARRAY, VARCHAR, ...). CASE keeps json_type away from text that is not JSON.
Result<void> read_json_lines(Connection& conn, const fs::path& file) {
  const std::string sql =
      "CREATE TABLE lines AS SELECT u.line, CASE WHEN trim(u.text, ' ' || chr(9) || chr(13)) = '' THEN 'BLANK'"
      " WHEN NOT json_valid(u.text) THEN 'INVALID' ELSE json_type(u.text) END AS kind, u.text"
      " FROM (SELECT unnest(parts) AS text, generate_subscripts(parts, 1) AS line FROM (SELECT string_split(content, chr(10)) AS parts"
      " FROM read_text(" +
      quote_literal(file.string()) + "))) AS u";
  // (A lateral unnest(...) WITH ORDINALITY over the one row of read_text took time quadratic in
  // the lines: 17 s for 10,000; this projection takes milliseconds.)
  return read_body(conn, sql, IngestFormat::NdJson);
}

Result<void> check_json_lines(Connection& conn) {
  auto got = rows(conn, "SELECT line, kind FROM lines WHERE kind NOT IN ('BLANK', 'OBJECT') ORDER BY line LIMIT 1");
  if (!got) return fail(got.error());
  if (got->empty()) return {};
  const std::string line = "line " + std::to_string(as_count((*got)[0][0]).value_or(0));
  const std::string hint = "NDJSON holds one JSON object per line, e.g. {\"id\": 1, \"note\": \"a\"}";
  if ((*got)[0][1] == "INVALID") return invalid(line + " is not valid JSON", hint);
  return invalid(line + " is not a JSON object", hint);
}

// `objects` (__row, text): the objects, numbered from 1; `pairs` (__row, pos, key, text,
// nested): their members, with each value's text (NULL for JSON null, the JSON text of objects
// and arrays).
Result<void> split_objects(Connection& conn) {
  if (auto made = run(conn, "CREATE TABLE objects AS SELECT row_number() OVER (ORDER BY line) AS __row, text FROM lines WHERE kind = 'OBJECT'");
      !made)
    return made;
  return run(conn,
             "CREATE TABLE pairs AS SELECT o.__row, e.id AS pos, e.key, e.value ->> '$' AS text, e.type IN ('OBJECT', 'ARRAY') AS nested"
             " FROM objects AS o, json_each(o.text) AS e");
}

// Every key used is declared, and no object names one twice.
Result<void> check_json_keys(Connection& conn, const std::vector<IngestColumn>& columns) {
  auto keys = rows(conn, "SELECT key FROM pairs GROUP BY key ORDER BY min(__row), arg_min(pos, __row)");
  if (!keys) return fail(keys.error());
  std::vector<std::string> names;
  for (const auto& k : *keys) names.push_back(k[0].is_string() ? k[0].get<std::string>() : "");
  if (auto known = declared_positions(names, columns); !known) return fail(known.error());
  auto twice = rows(conn, "SELECT __row, key FROM pairs GROUP BY __row, key HAVING count(*) > 1 ORDER BY __row, min(pos) LIMIT 1");
  if (!twice) return fail(twice.error());
  if (twice->empty()) return {};
  return invalid("row " + std::to_string(as_count((*twice)[0][0]).value_or(0)) + " names column '" + (*twice)[0][1].get<std::string>() +
                 "' twice");
}

// Stages an NDJSON body into `batch` (__row, v<i> and n<i> per declared column); returns its rows.
Result<int64_t> stage_ndjson(Connection& conn, const fs::path& file, const std::vector<IngestColumn>& columns) {
  if (auto read = read_json_lines(conn, file); !read) return fail(read.error());
  if (auto lines = check_json_lines(conn); !lines) return fail(lines.error());
  if (auto split = split_objects(conn); !split) return fail(split.error());
  if (auto keys = check_json_keys(conn, columns); !keys) return fail(keys.error());
  std::string select = "o.__row";
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string member = " FILTER (WHERE p.key = " + quote_literal(columns[i].name) + ")";
    select += ", max(p.text)" + member + " AS " + text_column(i) + ", coalesce(bool_or(p.nested)" + member + ", false) AS " + nested_column(i);
  }
  if (auto staged = run(conn, "CREATE TABLE batch AS SELECT " + select + " FROM objects AS o LEFT JOIN pairs AS p ON p.__row = o.__row GROUP BY o.__row");
      !staged)
    return fail(staged.error());
  return count(conn, "SELECT count(*) FROM batch");
}

// --- Arrow IPC ------------------------------------------------------------------------------

// Stages an Arrow IPC stream into `batch` (__row, v<i> per declared column: each value as DuckDB
// writes it as text, so the checks and casts of the text formats apply alike); returns its rows.
Result<int64_t> stage_arrow(Connection& conn, std::string_view body, const std::vector<IngestColumn>& columns) {
  auto stream = arrow::read_ipc_stream(body);
  if (!stream) return fail(stream.error());
  const std::vector<std::string> names = stream->field_names();
  for (size_t i = 0; i < names.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (names[i] == names[k]) return invalid("the Arrow schema names column '" + names[i] + "' twice");
  auto positions = declared_positions(names, columns);
  if (!positions) return fail(positions.error());
  if (stream->rows() == 0) return int64_t{0};
  ArrowArrayStream exported;
  stream->export_stream(&exported);
  if (duckdb_arrow_scan(conn.handle(), "body_rows", reinterpret_cast<duckdb_arrow_stream>(&exported)) != DuckDBSuccess)
    return fail_with_detail(ErrorKind::InvalidInput, "the Arrow stream could not be read", "", "duckdb_arrow_scan failed");
  std::string select = "row_number() OVER () AS __row";
  for (size_t i = 0; i < columns.size(); ++i) {
    auto field = std::find(positions->begin(), positions->end(), i);
    select += ", " +
              (field == positions->end() ? std::string("CAST(NULL AS VARCHAR)")
                                         : "CAST(" + quote_identifier(names[static_cast<size_t>(field - positions->begin())]) + " AS VARCHAR)") +
              " AS " + text_column(i);
  }
  auto staged = run(conn, "CREATE TABLE batch AS SELECT " + select + " FROM body_rows");
  if (exported.release) exported.release(&exported);
  if (!staged) return fail(staged.error());
  return count(conn, "SELECT count(*) FROM batch");
}

// --- checks and output ----------------------------------------------------------------------

// The first value (by row, then declared column) that does not convert to its column's type.
// With `nested_flags` (NDJSON), a JSON object or array converts only to a nested type.
Result<void> check_values(Connection& conn, const std::vector<IngestColumn>& columns, const std::vector<bool>& nested, bool nested_flags) {
  std::string which;
  std::string any;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string v = text_column(i);
    // A number that its column would round ('1.5' into BIGINT, '1.234' into DECIMAL(12,2)) is
    // refused as well: a batch is stored as sent or not at all.
    const std::string exact = "TRY_CAST(" + v + " AS DECIMAL(38, 10))";
    const std::string rounded = "(" + exact + " IS NOT NULL AND TRY_CAST(TRY_CAST(" + v + " AS " + columns[i].type +
                                ") AS DECIMAL(38, 10)) <> " + exact + ")";
    const std::string bad = "(" + v + " IS NOT NULL AND (TRY_CAST(" + v + " AS " + columns[i].type + ") IS NULL OR " + rounded +
                            (nested_flags && !nested[i] ? " OR " + nested_column(i) : "") + "))";
    which += " WHEN " + bad + " THEN " + std::to_string(i);
    any += (i ? " OR " : "") + bad;
  }
  auto found = rows(conn, "SELECT __row, CASE" + which + " END FROM batch WHERE " + any + " ORDER BY __row LIMIT 1");
  if (!found) return fail(found.error());
  if (found->empty()) return {};
  const int64_t row = as_count((*found)[0][0]).value_or(0);
  const size_t col = static_cast<size_t>(as_count((*found)[0][1]).value_or(0));
  auto value = rows(conn, "SELECT " + text_column(col) + " FROM batch WHERE __row = " + std::to_string(row));
  if (!value) return fail(value.error());
  const std::string text = value->size() == 1 && (*value)[0][0].is_string() ? (*value)[0][0].get<std::string>() : "";
  return invalid("row " + std::to_string(row) + ", column \"" + columns[col].name + "\": " + quoted_value(text) + " is not " +
                 with_article(columns[col].type));
}

// Writes `batch` to the Parquet file `out` with the declared names, order and types; returns the
// rows written. USE_TMP_FILE false: `out` exists already (our private temporary file), and DuckDB
// would otherwise write a "tmp_" sibling first, which the sandbox forbids (and we need not).
Result<int64_t> copy_to_parquet(Connection& conn, const std::vector<IngestColumn>& columns, const fs::path& out) {
  std::string select;
  for (size_t i = 0; i < columns.size(); ++i)
    select += (i ? ", " : "") + std::string("CAST(") + text_column(i) + " AS " + columns[i].type + ") AS " + quote_identifier(columns[i].name);
  return count(conn, "COPY (SELECT " + select + " FROM batch ORDER BY __row) TO " + quote_literal(out.string()) +
                         " (FORMAT parquet, USE_TMP_FILE false)");
}

// Stages, checks and writes the body to `out`; returns the rows written.
Result<int64_t> convert(Connection& conn, std::string_view body, IngestFormat format, const std::vector<IngestColumn>& columns,
                        const fs::path& input, const fs::path& out) {
  auto nested = nested_types(conn, columns);
  if (!nested) return fail(nested.error());
  auto staged = format == IngestFormat::Csv      ? stage_csv(conn, body, input, columns)
                : format == IngestFormat::ArrowIpc ? stage_arrow(conn, body, columns)
                                                   : stage_ndjson(conn, input, columns);
  if (!staged) return fail(staged.error());
  if (*staged == 0) return no_rows();
  if (auto ok = check_values(conn, columns, *nested, format == IngestFormat::NdJson); !ok) return fail(ok.error());
  auto written = copy_to_parquet(conn, columns, out);
  if (written && *written != *staged)
    return fail_with_detail(ErrorKind::Internal, "the batch could not be stored", "",
                            std::to_string(*staged) + " rows staged but " + std::to_string(*written) + " written");
  return written;
}

Result<fs::path> absolute_path(const fs::path& path) {
  std::error_code ec;
  fs::path out = fs::absolute(path, ec);
  if (ec) return storage_failure("cannot resolve", path, ec.value());
  return out.lexically_normal();
}

}  // namespace

std::optional<IngestFormat> ingest_format_of(std::string_view content_type) {
  const std::string media = ascii_lower(trim_spaces(content_type.substr(0, content_type.find(';'))));
  if (media == "text/csv") return IngestFormat::Csv;
  if (media == "application/x-ndjson" || media == "application/ndjson" || media == "application/jsonl") return IngestFormat::NdJson;
  if (media == "application/vnd.apache.arrow.stream") return IngestFormat::ArrowIpc;
  return std::nullopt;
}

Result<IngestBatch> write_ingest_batch(std::string_view body, IngestFormat format, const std::vector<IngestColumn>& columns,
                                       const std::filesystem::path& target, const std::filesystem::path& scratch_dir) {
  if (auto declared = check_declared(columns); !declared) return fail(declared.error());
  if (format == IngestFormat::ArrowIpc) {
    if (body.empty()) return no_rows();
  } else {
    if (body.starts_with(kByteOrderMark)) body.remove_prefix(kByteOrderMark.size());
    if (size_t bad = utf8_error_at(body); bad != std::string_view::npos)
      return invalid("the body is not UTF-8 text (byte " + std::to_string(bad + 1) + ")");
    if (is_blank(body)) return no_rows();
  }
  auto target_path = absolute_path(target);
  auto scratch = absolute_path(scratch_dir);
  if (!target_path || !scratch) return fail(target_path ? scratch.error() : target_path.error());
  if (!target_path->has_filename()) return fail(ErrorKind::Internal, "the batch's target names no file");

  // Destroyed in reverse order: the engine closes before its files are removed.
  auto work = PrivateDir::create(*scratch);
  if (!work) return fail(work.error());
  const fs::path input = (*work)->path() / "body";
  if (auto written = write_new_file(input, body); !written) return fail(written.error());
  auto out = PrivateFile::create(target_path->parent_path(), "." + target_path->filename().string() + ".tmp-");
  if (!out) return fail(out.error());
  auto engine = open_engine((*work)->path(), Sandbox{.directories = {}, .files = {input, (*out)->path()}});
  if (!engine) return fail(engine.error());

  auto rows_written = convert(*engine->conn, body, format, columns, input, (*out)->path());
  if (!rows_written) return fail(rows_written.error());
  engine->conn.reset();
  engine->db.reset();
  if (auto published = publish(**out, *target_path); !published) return fail(published.error());
  return IngestBatch{*rows_written};
}

}  // namespace sightline::engine
