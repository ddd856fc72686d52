// Arrow types parsed from the C data interface's format strings, shared by the IPC, JSON and CSV
// writers.
//
//   auto schema = parse_schema(*table.schema);          // once per result
//   if (!schema) return fail(schema.error());
//   for (auto& batch : table.batches) {
//     if (auto ok = validate_batch(*batch, *schema); !ok) return fail(ok.error());
//     ... schema->fields[c] describes batch->children[c] ...
//   }
//
// A parsed Schema owns copies of everything it needs (names, time zones, metadata), so it does
// not depend on the ArrowSchema it came from staying alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arrow/c_data.h"
#include "core/error.h"

namespace sightline::arrow {

enum class TypeKind {
  Null,
  Bool,
  Int,
  Float,
  Decimal,
  Utf8,
  LargeUtf8,
  Binary,
  LargeBinary,
  FixedSizeBinary,
  Date,
  Time,
  Timestamp,
  Duration,
  Interval,
  List,
  LargeList,
  FixedSizeList,
  Struct,
  Map,
  SparseUnion,
  DenseUnion,
};

// The numeric values match the enums of Arrow's Schema.fbs, so they go into IPC metadata as is.
enum class TimeUnit : int16_t { Second = 0, Millisecond = 1, Microsecond = 2, Nanosecond = 3 };
enum class DateUnit : int16_t { Day = 0, Millisecond = 1 };
enum class IntervalUnit : int16_t { YearMonth = 0, DayTime = 1, MonthDayNano = 2 };
enum class FloatPrecision : int16_t { Half = 0, Single = 1, Double = 2 };

using KeyValueMetadata = std::vector<std::pair<std::string, std::string>>;

struct Field;

struct DataType {
  TypeKind kind = TypeKind::Null;
  std::string format;            // the C data interface format string it was parsed from
  int bit_width = 0;             // Int, Float, Decimal, Date, Time, Timestamp, Duration, Interval
  bool is_signed = false;        // Int
  int precision = 0;             // Decimal
  int scale = 0;                 // Decimal
  TimeUnit time_unit = TimeUnit::Second;  // Time, Timestamp, Duration
  DateUnit date_unit = DateUnit::Day;     // Date
  IntervalUnit interval_unit = IntervalUnit::MonthDayNano;  // Interval
  FloatPrecision float_precision = FloatPrecision::Double;  // Float
  std::string timezone;          // Timestamp; empty: naive (no time zone)
  int32_t fixed_size = 0;        // FixedSizeBinary: bytes per value; FixedSizeList: items per list
  bool keys_sorted = false;      // Map
  std::vector<int32_t> union_type_ids;  // SparseUnion, DenseUnion: type id of each child
  std::vector<Field> children;   // List/LargeList/FixedSizeList/Map: 1; Struct/Union: the members
};

// A named, typed column or child. For a dictionary-encoded field, `type` is the index type (an
// Int) and `dictionary` holds the value type; the values of the field are the decoded values.
struct Field {
  std::string name;
  bool nullable = true;
  KeyValueMetadata metadata;
  DataType type;
  std::unique_ptr<Field> dictionary;  // set only for dictionary-encoded fields
  bool dictionary_ordered = false;
  int64_t dictionary_id = -1;         // depth-first numbering of dictionary fields, from 0

  // The type of the values the field holds: the dictionary's value type, or `type`.
  const DataType& value_type() const { return dictionary ? dictionary->type : type; }
};

// The columns of a result: the children of its top-level struct schema.
struct Schema {
  std::vector<Field> fields;
  KeyValueMetadata metadata;
  int64_t dictionary_count = 0;  // how many dictionary-encoded fields, at any depth
};

// Parses a top-level schema, which must have format "+s" (its children are the columns).
// Unsupported formats (view types "vu"/"vz"/"+vl", run-end encoded "+r", nested dictionaries,
// malformed strings) fail with ErrorKind::Internal and a message that names the column and format.
Result<Schema> parse_schema(const ArrowSchema& schema);

// Checks that a record batch (a struct array whose children are the columns) has the buffer and
// child layout `schema` calls for: buffer counts, required buffers present, child lengths that
// cover their parents, dictionaries present. Does not read values (offsets are checked where
// they are used). Fails with ErrorKind::Internal naming the column.
Result<void> validate_batch(const ArrowArray& batch, const Schema& schema);

// A readable name of what the field holds, e.g. "int64", "decimal(10,2)", "timestamp[us, tz=UTC]",
// "list<int32>", "struct<a: int32, b: utf8>". Dictionary fields are named by their value type.
std::string type_name(const Field& field);

// True for strings and binary (also as dictionary values): the columns a spreadsheet shows as text.
bool is_text_like(const Field& field);

// Bits per value of a fixed-width type (Bool: 1); 0 for variable-width and nested types.
int fixed_bit_width(const DataType& type);

// Counts the set bits in bits [bit_offset, bit_offset + length) of a bitmap.
int64_t count_set_bits(const uint8_t* bits, int64_t bit_offset, int64_t length);

// Reads bit `index` of an Arrow (LSB-first) bitmap.
inline bool get_bit(const uint8_t* bits, int64_t index) { return (bits[index >> 3] >> (index & 7)) & 1; }

}  // namespace sightline::arrow
