// Query results as CSV (RFC 4180), for downloads.
//
//   auto body = write_csv(output.table);   // "region,revenue\r\nNorth,1234.50\r\n"
//
// - A header row of column names, then one record per row; records end with CRLF.
// - A field is quoted ("...", inner quotes doubled) when it holds a comma, a quote, CR or LF.
// - Nulls are empty fields; an empty string is a quoted empty field ("") so the two differ.
// - Values are written as in JSON without quotes (see arrow/text_values.h): exact decimals,
//   "YYYY-MM-DD" dates, ISO 8601 timestamps, NaN/Infinity/-Infinity for non-finite floats, base64
//   for binary; lists, structs and maps as JSON text. Dictionary columns are decoded.
// - Formula injection: a text field (string or binary columns, and the header names) that starts
//   with '=', '+', '-', '@', TAB or CR is prefixed with a single quote ', so spreadsheets show it
//   as text instead of running it. Numeric, date and other typed columns are left alone (-5 stays -5).
// - Text is UTF-8; invalid bytes become U+FFFD. Other bytes (including NUL) are kept.
#pragma once

#include "arrow/batch_writer.h"

#include <string>

#include "arrow/c_data.h"
#include "core/error.h"

namespace sightline::arrow {

// Renders `table` as CSV. Fails (ErrorKind::Internal) on a schema type it cannot read or
// malformed data.
Result<std::string> write_csv(const Table& table);

// The same, batch by batch (see arrow/batch_writer.h); appends the CSV header to `out`.
Result<std::unique_ptr<BatchWriter>> start_csv_writer(const ArrowSchema& schema, std::string& out);

}  // namespace sightline::arrow
