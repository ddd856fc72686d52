// Single Arrow values as text, shared by the JSON and CSV writers.
//
//   ValueRenderer render;
//   render.append(out, *column, field, row, TextStyle::Json);   // e.g. "2024-03-01T12:00:00Z"
//   if (render.error()) ...                                      // malformed data met (value written as null)
//
// How values look (both styles unless said otherwise):
//   bool        true / false
//   integers    digits; Json: 64-bit values beyond +-(2^53 - 1) as a string ("9007199254740993")
//   floats      shortest round-trip text; Json: NaN and +-Infinity as null; Csv: NaN, Infinity, -Infinity
//   decimals    the exact decimal text with `scale` fraction digits ("-12.50"); Json: a number token
//               with that text (a reader parsing numbers as doubles rounds beyond ~15 digits); a
//               scale-0 decimal (DuckDB's HUGEINT) beyond +-(2^53 - 1) is a string, like integers
//   strings     Json: a JSON string; Csv: the raw text. Invalid UTF-8 bytes become U+FFFD.
//   binary      base64 (RFC 4648, padded)
//   date        "YYYY-MM-DD" (years outside 0..9999 as "-0044" / "+10000")
//   time        "HH:MM:SS" plus ".fff", ".ffffff" or ".fffffffff" when the fraction is not zero
//   timestamp   "YYYY-MM-DDTHH:MM:SS[.fff]" plus "Z" when the type has a time zone (values are UTC
//               instants); naive timestamps have no suffix
//   duration    integer count of the type's unit
//   interval    ISO 8601 duration with per-part signs, e.g. "P1Y2M-3DT4H5M6.5S"; zero is "PT0S"
//   list        Json array; struct: Json object by child name; map: Json array of {"key","value"}
//               objects; union: the value of the selected child. In Csv these are Json text.
//   dictionary  the decoded value
//   null        Json: null; Csv: nothing
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "arrow/c_data.h"
#include "arrow/types.h"
#include "core/error.h"

namespace sightline::arrow {

enum class TextStyle { Json, Csv };

// True when element `index` (logical: before a.offset) of `a` is null. For unions: when the
// selected child's value is null; for dictionary fields: when the index or the value is null.
bool is_null(const ArrowArray& a, const Field& field, int64_t index);

class ValueRenderer {
 public:
  // Appends element `index` (logical: before a.offset) of `a`, whose layout has been checked
  // with validate_batch. Offsets and dictionary indices are bounds-checked here: a value that
  // points outside its data is written as null and recorded in error().
  void append(std::string& out, const ArrowArray& a, const Field& field, int64_t index, TextStyle style);

  // The first malformed-data problem met, if any.
  const std::optional<Error>& error() const { return error_; }

 private:
  void append_nested(std::string& out, const ArrowArray& a, const Field& field, int64_t physical);
  void bad_data(std::string& out, const Field& field, const std::string& what, TextStyle style);
  std::optional<Error> error_;
};

// Formatting helpers, exposed for tests.
void append_date(std::string& out, int64_t days_since_epoch);
void append_timestamp(std::string& out, int64_t value, TimeUnit unit, bool utc);
void append_time_of_day(std::string& out, int64_t value, TimeUnit unit);
void append_interval(std::string& out, int64_t months, int64_t days, int64_t nanoseconds);
// `bytes`: a little-endian two's complement integer of bit_width (32, 64, 128 or 256) bits.
void append_decimal(std::string& out, const uint8_t* bytes, int bit_width, int scale);
// A quoted, escaped JSON string; invalid UTF-8 bytes become U+FFFD.
void append_json_string(std::string& out, std::string_view text);
// `text` with invalid UTF-8 bytes replaced by U+FFFD, nothing escaped.
void append_valid_utf8(std::string& out, std::string_view text);
void append_base64(std::string& out, std::string_view bytes);

}  // namespace sightline::arrow
