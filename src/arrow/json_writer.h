// Query results as JSON rows, for clients that ask for application/json and for small metadata
// (counts, filter options).
//
//   auto body = write_json_rows(output.table);
//   // {"columns":[{"name":"region","type":"utf8"},{"name":"revenue","type":"decimal(10,2)"}],
//   //  "rows":[["North",1234.50],["South",null]]}
//
// One array per row, values in column order, written by hand (no JSON tree is built, so large
// results cost one pass and one output string). "type" is a readable Arrow type name of the
// values (see type_name in arrow/types.h); dictionary columns are decoded to their values.
//
// Values (details in arrow/text_values.h):
//   - integers are numbers; 64-bit values beyond +-(2^53 - 1) are strings, so JavaScript's
//     JSON.parse never rounds them;
//   - floats are numbers, NaN and +-Infinity become null;
//   - decimals are numbers written with their exact decimal text and scale ("1234.50"); a reader
//     that parses numbers as doubles rounds values beyond ~15 significant digits. Scale-0
//     decimals (DuckDB's HUGEINT) beyond +-(2^53 - 1) are strings, like integers;
//   - dates "YYYY-MM-DD"; timestamps ISO 8601 ("2024-03-01T12:00:00Z" with a time zone, no "Z"
//     when naive; fractional seconds only when not zero); times "HH:MM:SS[.fff]";
//   - strings as JSON strings with invalid UTF-8 replaced by U+FFFD; binary as base64;
//   - lists as arrays, structs as objects, maps as arrays of {"key":..,"value":..};
//   - nulls as null.
#pragma once

#include "arrow/batch_writer.h"

#include <string>

#include "arrow/c_data.h"
#include "core/error.h"

namespace sightline::arrow {

// Renders every row of `table`. Fails (ErrorKind::Internal) on a schema type it cannot read or
// malformed data.
Result<std::string> write_json_rows(const Table& table);

// The same, batch by batch (see arrow/batch_writer.h); appends the JSON rows header to `out`.
Result<std::unique_ptr<BatchWriter>> start_json_writer(const ArrowSchema& schema, std::string& out);

}  // namespace sightline::arrow
