// Ingest: one batch of rows received over HTTP (CSV, NDJSON or an Arrow IPC stream), checked against the columns a
// project declares and written as one Parquet file that appears whole or not at all.
//
//   auto format = ingest_format_of(request.content_type);           // nullopt: 415
//   auto batch = write_ingest_batch(request.body, *format, columns, dir / "batch-0007.parquet", scratch);
//   if (!batch) return problem(batch.error());                       // InvalidInput: 400
//
// Thread-safety: both functions are reentrant and share nothing: each call of
// write_ingest_batch opens its own private in-memory DuckDB (one thread), so calls may run in
// parallel (on different targets; two calls on one target each replace it whole, the last
// rename wins).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace sightline::engine {

enum class IngestFormat { Csv, NdJson, ArrowIpc };

// The body format a Content-Type names: text/csv -> Csv; application/x-ndjson,
// application/ndjson and application/jsonl -> NdJson; application/vnd.apache.arrow.stream ->
// ArrowIpc; anything else (also "") -> nullopt.
// Case-insensitive; parameters (`; charset=utf-8`) and surrounding spaces are ignored. Pure.
std::optional<IngestFormat> ingest_format_of(std::string_view content_type);

// A column of the batch: its name (matched exactly, case-sensitively, against the body's names)
// and a DuckDB SQL type such as BIGINT, DECIMAL(12,2), TIMESTAMPTZ, VARCHAR, DATE, BOOLEAN or
// DOUBLE. Both come from the project (trusted text); values come from the caller (hostile).
struct IngestColumn {
  std::string name;
  std::string type;
};

struct IngestBatch {
  int64_t rows = 0;  // rows written to the target
};

// Writes the rows of `body` to the Parquet file `target` with exactly `columns` (names, order,
// types); returns how many.
//
// The body is UTF-8 (a leading byte order mark is skipped):
//   Csv     RFC 4180: `,` between fields, `"` around fields that hold `,` `"` or line breaks
//           (`""` inside), lines end with LF or CRLF. The first line is a header naming the
//           columns. An empty field (also `""`) is NULL. Blank lines are skipped in a body of
//           two or more columns (in a one-column body a blank line is a row holding NULL).
//   NdJson  one JSON object per line; blank lines are ignored. JSON null is NULL; strings,
//           numbers and booleans are converted from their text (a JSON number is read as a
//           64-bit integer or a double: send decimals of more than 15 significant digits as
//           strings). Objects and arrays convert only to nested types (LIST, STRUCT, MAP,
//           ARRAY), from their JSON text.
//   ArrowIpc an Arrow IPC stream (arrow/ipc_reader.h says which types it reads); each value is
//           converted from its text as DuckDB writes it (a timestamp with its UTC offset), so
//           the rules below hold alike. Field names are matched like CSV header names.
// Every column the body names must be one of `columns`; declared columns it does not name are
// NULL. A value converts when DuckDB's TRY_CAST from text to the column's type succeeds (so its
// rules hold: '1.5' into BIGINT is 2, '1.234' into DECIMAL(12,2) is 1.23, 'yes' is a BOOLEAN);
// TIMESTAMPTZ text without an offset is read as UTC.
//
// Errors (messages and hints may quote the caller's own names and values, never a path or the
// engine's words, which go to `detail`):
//   InvalidInput  "no rows" (empty body, blank body, header only); "the body is not UTF-8 text";
//                 "unknown column 'x'" (hint: the declared columns); a CSV header with an empty
//                 or repeated name; a CSV line that does not parse (unterminated quote, another
//                 number of fields than the header: "line N ..."; lines are the body's physical
//                 lines, the header is line 1); an NDJSON line that is not JSON or not an object
//                 ("line N ..."), an object naming a column twice; the first value (by row, then
//                 in the order of `columns`) that does not convert:
//                   row 4, column "amount": 'abc' is not a DECIMAL(12,2)
//                 (rows count data rows from 1: CSV records after the header, NDJSON objects;
//                 at most 64 characters of the value are quoted, then "…").
//   Internal      `columns` is empty, has an empty or repeated (case-insensitively) name or a
//                 type DuckDB does not know; the engine failed.
//   Unavailable   a file could not be written, synced or renamed (disk full, permissions).
//
// Files: `body` is written to a private file in `scratch_dir` (must exist, writable) for DuckDB
// to read, and the Parquet output to a private temporary file beside `target`
// (".<target name>.tmp-XXXXXX"); it is synced, renamed over `target` (an existing file is
// replaced) and the folder synced. So `target` never holds a partial file, even after a crash,
// and a failed call leaves no target. Both private files are removed on every path; only a crash
// can leave them behind (under those names, for the folder's owner to sweep). No rows: nothing is
// written. The private database reads and writes only those two files (lock_down).
Result<IngestBatch> write_ingest_batch(std::string_view body, IngestFormat format, const std::vector<IngestColumn>& columns,
                                       const std::filesystem::path& target, const std::filesystem::path& scratch_dir);

}  // namespace sightline::engine
