#include "arrow/types.h"

#include <bit>
#include <charconv>
#include <cstring>
#include <string_view>

namespace sightline::arrow {
namespace {

Error schema_error(const std::string& path, std::string_view format, const std::string& what) {
  return Error{ErrorKind::Internal,
               "column '" + path + "' has Arrow format '" + std::string(format) + "': " + what,
               "this result type cannot be exported as Arrow yet; cast the column (e.g. to VARCHAR) in the query"};
}

bool parse_int(std::string_view text, int64_t& value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// The C data interface's metadata encoding: int32 count, then per pair int32 length + key bytes,
// int32 length + value bytes (native endianness).
Result<KeyValueMetadata> parse_metadata(const char* metadata, const std::string& path) {
  KeyValueMetadata out;
  if (!metadata) return out;
  auto read_i32 = [&](const char*& p) {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
    return v;
  };
  const char* p = metadata;
  int32_t count = read_i32(p);
  if (count < 0 || count > 1'000'000) return fail(schema_error(path, "", "malformed field metadata"));
  for (int32_t i = 0; i < count; ++i) {
    int32_t key_length = read_i32(p);
    if (key_length < 0) return fail(schema_error(path, "", "malformed field metadata"));
    std::string key(p, static_cast<size_t>(key_length));
    p += key_length;
    int32_t value_length = read_i32(p);
    if (value_length < 0) return fail(schema_error(path, "", "malformed field metadata"));
    std::string value(p, static_cast<size_t>(value_length));
    p += value_length;
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

Result<TimeUnit> parse_time_unit(char c) {
  switch (c) {
    case 's': return TimeUnit::Second;
    case 'm': return TimeUnit::Millisecond;
    case 'u': return TimeUnit::Microsecond;
    case 'n': return TimeUnit::Nanosecond;
    default: return fail(ErrorKind::Internal, "unknown time unit");
  }
}

Result<Field> parse_field(const ArrowSchema& schema, const std::string& path, int64_t& next_dictionary_id,
                          bool inside_dictionary);

// Parses the type of `schema` (format and children); the field-level parts are parse_field's.
Result<DataType> parse_type(const ArrowSchema& schema, const std::string& path, int64_t& next_dictionary_id,
                            bool inside_dictionary) {
  if (!schema.format) return fail(schema_error(path, "", "the format string is missing"));
  const std::string_view f = schema.format;
  DataType t;
  t.format = std::string(f);
  auto unsupported = [&](const std::string& what) { return fail(schema_error(path, f, what)); };
  auto set_int = [&](int bits, bool is_signed) {
    t.kind = TypeKind::Int;
    t.bit_width = bits;
    t.is_signed = is_signed;
  };
  size_t expected_children = 0;

  if (f.size() == 1) {
    switch (f[0]) {
      case 'n': t.kind = TypeKind::Null; break;
      case 'b': t.kind = TypeKind::Bool; t.bit_width = 1; break;
      case 'c': set_int(8, true); break;
      case 'C': set_int(8, false); break;
      case 's': set_int(16, true); break;
      case 'S': set_int(16, false); break;
      case 'i': set_int(32, true); break;
      case 'I': set_int(32, false); break;
      case 'l': set_int(64, true); break;
      case 'L': set_int(64, false); break;
      case 'e': t.kind = TypeKind::Float; t.bit_width = 16; t.float_precision = FloatPrecision::Half; break;
      case 'f': t.kind = TypeKind::Float; t.bit_width = 32; t.float_precision = FloatPrecision::Single; break;
      case 'g': t.kind = TypeKind::Float; t.bit_width = 64; t.float_precision = FloatPrecision::Double; break;
      case 'z': t.kind = TypeKind::Binary; break;
      case 'Z': t.kind = TypeKind::LargeBinary; break;
      case 'u': t.kind = TypeKind::Utf8; break;
      case 'U': t.kind = TypeKind::LargeUtf8; break;
      default: return unsupported("unsupported type");
    }
  } else if (f.starts_with("w:")) {
    int64_t width = 0;
    if (!parse_int(f.substr(2), width) || width <= 0 || width > INT32_MAX) return unsupported("malformed byte width");
    t.kind = TypeKind::FixedSizeBinary;
    t.fixed_size = static_cast<int32_t>(width);
    t.bit_width = static_cast<int>(width * 8);
  } else if (f.starts_with("d:")) {
    // d:PRECISION,SCALE[,BITWIDTH]
    std::string_view rest = f.substr(2);
    int64_t parts[3] = {0, 0, 128};
    int count = 0;
    while (count < 3) {
      size_t comma = rest.find(',');
      if (!parse_int(rest.substr(0, comma), parts[count])) return unsupported("malformed decimal");
      ++count;
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
      if (count == 3) return unsupported("malformed decimal");
    }
    if (count < 2) return unsupported("malformed decimal");
    int64_t bits = parts[2];
    if (bits != 32 && bits != 64 && bits != 128 && bits != 256) return unsupported("unsupported decimal bit width");
    if (parts[0] <= 0 || parts[0] > 76) return unsupported("unsupported decimal precision");
    if (parts[1] < -100 || parts[1] > 100) return unsupported("unsupported decimal scale");
    t.kind = TypeKind::Decimal;
    t.precision = static_cast<int>(parts[0]);
    t.scale = static_cast<int>(parts[1]);
    t.bit_width = static_cast<int>(bits);
  } else if (f == "tdD") {
    t.kind = TypeKind::Date, t.date_unit = DateUnit::Day, t.bit_width = 32;
  } else if (f == "tdm") {
    t.kind = TypeKind::Date, t.date_unit = DateUnit::Millisecond, t.bit_width = 64;
  } else if (f.size() == 3 && f.starts_with("tt")) {
    auto unit = parse_time_unit(f[2]);
    if (!unit) return unsupported("unknown time unit");
    t.kind = TypeKind::Time;
    t.time_unit = *unit;
    t.bit_width = (*unit == TimeUnit::Second || *unit == TimeUnit::Millisecond) ? 32 : 64;
  } else if (f.size() >= 4 && f.starts_with("ts") && f[3] == ':') {
    auto unit = parse_time_unit(f[2]);
    if (!unit) return unsupported("unknown timestamp unit");
    t.kind = TypeKind::Timestamp;
    t.time_unit = *unit;
    t.bit_width = 64;
    t.timezone = std::string(f.substr(4));
  } else if (f.size() == 3 && f.starts_with("tD")) {
    auto unit = parse_time_unit(f[2]);
    if (!unit) return unsupported("unknown duration unit");
    t.kind = TypeKind::Duration;
    t.time_unit = *unit;
    t.bit_width = 64;
  } else if (f == "tiM") {
    t.kind = TypeKind::Interval, t.interval_unit = IntervalUnit::YearMonth, t.bit_width = 32;
  } else if (f == "tiD") {
    t.kind = TypeKind::Interval, t.interval_unit = IntervalUnit::DayTime, t.bit_width = 64;
  } else if (f == "tin") {
    t.kind = TypeKind::Interval, t.interval_unit = IntervalUnit::MonthDayNano, t.bit_width = 128;
  } else if (f == "+l") {
    t.kind = TypeKind::List, expected_children = 1;
  } else if (f == "+L") {
    t.kind = TypeKind::LargeList, expected_children = 1;
  } else if (f.starts_with("+w:")) {
    int64_t size = 0;
    if (!parse_int(f.substr(3), size) || size < 0 || size > INT32_MAX) return unsupported("malformed list size");
    t.kind = TypeKind::FixedSizeList;
    t.fixed_size = static_cast<int32_t>(size);
    expected_children = 1;
  } else if (f == "+s") {
    t.kind = TypeKind::Struct;
    expected_children = static_cast<size_t>(schema.n_children);
  } else if (f == "+m") {
    t.kind = TypeKind::Map;
    t.keys_sorted = (schema.flags & ARROW_FLAG_MAP_KEYS_SORTED) != 0;
    expected_children = 1;
  } else if (f.starts_with("+ud:") || f.starts_with("+us:")) {
    t.kind = f[2] == 'd' ? TypeKind::DenseUnion : TypeKind::SparseUnion;
    std::string_view ids = f.substr(4);
    while (!ids.empty()) {
      size_t comma = ids.find(',');
      int64_t id = 0;
      if (!parse_int(ids.substr(0, comma), id) || id < 0 || id > 127) return unsupported("malformed union type ids");
      t.union_type_ids.push_back(static_cast<int32_t>(id));
      if (comma == std::string_view::npos) break;
      ids = ids.substr(comma + 1);
    }
    expected_children = t.union_type_ids.size();
  } else if (f == "vu" || f == "vz" || f == "+vl" || f == "+vL") {
    return unsupported("view types are not supported (turn off produce_arrow_string_view / arrow_output_list_view)");
  } else if (f == "+r") {
    return unsupported("run-end encoded arrays are not supported");
  } else {
    return unsupported("unsupported type");
  }

  if (schema.n_children < 0 || static_cast<size_t>(schema.n_children) != expected_children) {
    return unsupported("expected " + std::to_string(expected_children) + " children, the schema has " +
                       std::to_string(schema.n_children));
  }
  if (expected_children > 0 && !schema.children) return unsupported("the children are missing");
  for (size_t i = 0; i < expected_children; ++i) {
    if (!schema.children[i]) return unsupported("a child is missing");
    const char* child_name = schema.children[i]->name;
    auto child = parse_field(*schema.children[i], path + "." + (child_name ? child_name : std::to_string(i)),
                             next_dictionary_id, inside_dictionary);
    if (!child) return fail(child.error());
    t.children.push_back(std::move(*child));
  }
  if (t.kind == TypeKind::Map) {
    const DataType& entries = t.children[0].type;
    if (entries.kind != TypeKind::Struct || entries.children.size() != 2) {
      return unsupported("a map's child must be a struct of key and value");
    }
  }
  return t;
}

Result<Field> parse_field(const ArrowSchema& schema, const std::string& path, int64_t& next_dictionary_id,
                          bool inside_dictionary) {
  Field field;
  field.name = schema.name ? schema.name : "";
  field.nullable = (schema.flags & ARROW_FLAG_NULLABLE) != 0;
  auto metadata = parse_metadata(schema.metadata, path);
  if (!metadata) return fail(metadata.error());
  field.metadata = std::move(*metadata);
  auto type = parse_type(schema, path, next_dictionary_id, inside_dictionary);
  if (!type) return fail(type.error());
  field.type = std::move(*type);
  if (schema.dictionary) {
    const std::string_view format = schema.format;
    if (field.type.kind != TypeKind::Int) return fail(schema_error(path, format, "dictionary indices must be integers"));
    if (inside_dictionary) return fail(schema_error(path, format, "nested dictionaries are not supported"));
    field.dictionary_id = next_dictionary_id++;
    field.dictionary_ordered = (schema.flags & ARROW_FLAG_DICTIONARY_ORDERED) != 0;
    auto values = parse_field(*schema.dictionary, path + " (dictionary)", next_dictionary_id, true);
    if (!values) return fail(values.error());
    field.dictionary = std::make_unique<Field>(std::move(*values));
  }
  return field;
}

// --- layout validation ---------------------------------------------------------------------------

Error layout_error(const std::string& path, const std::string& what) {
  return Error{ErrorKind::Internal, "Arrow data of column '" + path + "' is malformed: " + what, ""};
}

int64_t expected_buffer_count(const DataType& t) {
  switch (t.kind) {
    case TypeKind::Null: return 0;
    case TypeKind::Utf8:
    case TypeKind::LargeUtf8:
    case TypeKind::Binary:
    case TypeKind::LargeBinary: return 3;
    case TypeKind::List:
    case TypeKind::LargeList:
    case TypeKind::Map: return 2;
    case TypeKind::FixedSizeList:
    case TypeKind::Struct: return 1;
    case TypeKind::SparseUnion: return 1;
    case TypeKind::DenseUnion: return 2;
    default: return 2;  // validity + values
  }
}

// `needed`: how many elements the parent requires this array to have (its logical length must
// cover them).
Result<void> validate_array(const ArrowArray& a, const Field& field, int64_t needed, const std::string& path) {
  if (a.length < 0 || a.offset < 0) return fail(layout_error(path, "negative length or offset"));
  if (a.length < needed) {
    return fail(layout_error(path, "length " + std::to_string(a.length) + " is shorter than the " +
                                       std::to_string(needed) + " elements its parent refers to"));
  }
  const DataType& t = field.type;
  int64_t buffers = expected_buffer_count(t);
  bool buffer_count_ok = a.n_buffers == buffers || (t.kind == TypeKind::Null && a.n_buffers == 1);
  if (!buffer_count_ok) {
    return fail(layout_error(path, "expected " + std::to_string(buffers) + " buffers for format '" + t.format +
                                       "', got " + std::to_string(a.n_buffers)));
  }
  if (a.n_buffers > 0 && !a.buffers) return fail(layout_error(path, "the buffer list is missing"));
  if (a.n_children != static_cast<int64_t>(t.children.size())) {
    return fail(layout_error(path, "expected " + std::to_string(t.children.size()) + " children, got " +
                                       std::to_string(a.n_children)));
  }
  if (a.n_children > 0 && !a.children) return fail(layout_error(path, "the child list is missing"));
  // Values buffers may only be null when they would be empty.
  if (a.length > 0) {
    switch (t.kind) {
      case TypeKind::Null:
      case TypeKind::Struct:
      case TypeKind::FixedSizeList: break;
      case TypeKind::SparseUnion:  // unions have no validity bitmap: type ids come first
        if (!a.buffers[0]) return fail(layout_error(path, "the type ids buffer is missing"));
        break;
      case TypeKind::DenseUnion:
        if (!a.buffers[0] || !a.buffers[1]) return fail(layout_error(path, "the type ids or offsets are missing"));
        break;
      default:
        if (!a.buffers[1]) return fail(layout_error(path, "the values buffer is missing"));
    }
  }
  int64_t end = a.offset + a.length;
  for (int64_t i = 0; i < a.n_children; ++i) {
    const ArrowArray* child = a.children[i];
    if (!child) return fail(layout_error(path, "a child array is missing"));
    const Field& child_field = t.children[static_cast<size_t>(i)];
    int64_t child_needed = 0;
    if (t.kind == TypeKind::Struct || t.kind == TypeKind::SparseUnion) child_needed = end;
    if (t.kind == TypeKind::FixedSizeList) child_needed = end * t.fixed_size;
    if (auto ok = validate_array(*child, child_field, child_needed, path + "." + child_field.name); !ok) return ok;
  }
  if (field.dictionary) {
    if (!a.dictionary) return fail(layout_error(path, "the dictionary is missing"));
    if (auto ok = validate_array(*a.dictionary, *field.dictionary, 0, path + " (dictionary)"); !ok) return ok;
  }
  return {};
}

const char* time_unit_suffix(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::Second: return "s";
    case TimeUnit::Millisecond: return "ms";
    case TimeUnit::Microsecond: return "us";
    case TimeUnit::Nanosecond: return "ns";
  }
  return "?";
}

std::string data_type_name(const DataType& t) {
  auto child_list = [&](const char* open) {
    std::string s = open;
    for (size_t i = 0; i < t.children.size(); ++i) {
      if (i) s += ", ";
      s += t.children[i].name + ": " + type_name(t.children[i]);
    }
    return s + ">";
  };
  switch (t.kind) {
    case TypeKind::Null: return "null";
    case TypeKind::Bool: return "bool";
    case TypeKind::Int: return std::string(t.is_signed ? "int" : "uint") + std::to_string(t.bit_width);
    case TypeKind::Float: return "float" + std::to_string(t.bit_width);
    case TypeKind::Decimal: {
      std::string s = "decimal(" + std::to_string(t.precision) + "," + std::to_string(t.scale) + ")";
      return t.bit_width == 128 ? s : s + "[" + std::to_string(t.bit_width) + "]";
    }
    case TypeKind::Utf8: return "utf8";
    case TypeKind::LargeUtf8: return "large_utf8";
    case TypeKind::Binary: return "binary";
    case TypeKind::LargeBinary: return "large_binary";
    case TypeKind::FixedSizeBinary: return "fixed_size_binary[" + std::to_string(t.fixed_size) + "]";
    case TypeKind::Date: return t.date_unit == DateUnit::Day ? "date32" : "date64";
    case TypeKind::Time: return "time" + std::to_string(t.bit_width) + "[" + time_unit_suffix(t.time_unit) + "]";
    case TypeKind::Timestamp: {
      std::string s = std::string("timestamp[") + time_unit_suffix(t.time_unit);
      if (!t.timezone.empty()) s += ", tz=" + t.timezone;
      return s + "]";
    }
    case TypeKind::Duration: return std::string("duration[") + time_unit_suffix(t.time_unit) + "]";
    case TypeKind::Interval:
      switch (t.interval_unit) {
        case IntervalUnit::YearMonth: return "interval[year_month]";
        case IntervalUnit::DayTime: return "interval[day_time]";
        case IntervalUnit::MonthDayNano: return "interval[month_day_nano]";
      }
      return "interval";
    case TypeKind::List: return "list<" + type_name(t.children[0]) + ">";
    case TypeKind::LargeList: return "large_list<" + type_name(t.children[0]) + ">";
    case TypeKind::FixedSizeList:
      return "fixed_size_list<" + type_name(t.children[0]) + ">[" + std::to_string(t.fixed_size) + "]";
    case TypeKind::Struct: return child_list("struct<");
    case TypeKind::Map: {
      const auto& entries = t.children[0].type.children;
      return "map<" + type_name(entries[0]) + ", " + type_name(entries[1]) + ">";
    }
    case TypeKind::SparseUnion: return child_list("sparse_union<");
    case TypeKind::DenseUnion: return child_list("dense_union<");
  }
  return "unknown";
}

}  // namespace

Result<Schema> parse_schema(const ArrowSchema& schema) {
  if (!schema.format || std::string_view(schema.format) != "+s") {
    return fail(ErrorKind::Internal, std::string("a result schema must be a struct (format '+s'), got '") +
                                         (schema.format ? schema.format : "") + "'");
  }
  Schema out;
  auto metadata = parse_metadata(schema.metadata, "(schema)");
  if (!metadata) return fail(metadata.error());
  out.metadata = std::move(*metadata);
  if (schema.n_children > 0 && !schema.children) return fail(ErrorKind::Internal, "the schema's columns are missing");
  for (int64_t i = 0; i < schema.n_children; ++i) {
    const ArrowSchema* child = schema.children[i];
    if (!child) return fail(ErrorKind::Internal, "a column schema is missing");
    auto field = parse_field(*child, child->name ? child->name : std::to_string(i), out.dictionary_count, false);
    if (!field) return fail(field.error());
    out.fields.push_back(std::move(*field));
  }
  return out;
}

Result<void> validate_batch(const ArrowArray& batch, const Schema& schema) {
  if (batch.length < 0 || batch.offset < 0) return fail(ErrorKind::Internal, "a record batch has a negative length");
  if (batch.n_children != static_cast<int64_t>(schema.fields.size())) {
    return fail(ErrorKind::Internal, "a record batch has " + std::to_string(batch.n_children) +
                                         " columns, the schema " + std::to_string(schema.fields.size()));
  }
  if (batch.n_children > 0 && !batch.children) return fail(ErrorKind::Internal, "a record batch has no columns");
  for (size_t i = 0; i < schema.fields.size(); ++i) {
    const ArrowArray* column = batch.children[i];
    if (!column) return fail(ErrorKind::Internal, "a record batch column is missing");
    if (auto ok = validate_array(*column, schema.fields[i], batch.offset + batch.length, schema.fields[i].name); !ok) {
      return ok;
    }
  }
  return {};
}

std::string type_name(const Field& field) { return data_type_name(field.value_type()); }

bool is_text_like(const Field& field) {
  switch (field.value_type().kind) {
    case TypeKind::Utf8:
    case TypeKind::LargeUtf8:
    case TypeKind::Binary:
    case TypeKind::LargeBinary:
    case TypeKind::FixedSizeBinary: return true;
    default: return false;
  }
}

int fixed_bit_width(const DataType& type) {
  switch (type.kind) {
    case TypeKind::Bool:
    case TypeKind::Int:
    case TypeKind::Float:
    case TypeKind::Decimal:
    case TypeKind::FixedSizeBinary:
    case TypeKind::Date:
    case TypeKind::Time:
    case TypeKind::Timestamp:
    case TypeKind::Duration:
    case TypeKind::Interval: return type.bit_width;
    default: return 0;
  }
}

int64_t count_set_bits(const uint8_t* bits, int64_t bit_offset, int64_t length) {
  int64_t count = 0;
  int64_t i = bit_offset;
  const int64_t end = bit_offset + length;
  // Leading bits up to a byte boundary.
  while (i < end && (i & 7) != 0) count += get_bit(bits, i++);
  // Whole 64-bit words, then whole bytes.
  while (end - i >= 64) {
    uint64_t word;
    std::memcpy(&word, bits + (i >> 3), sizeof word);
    count += std::popcount(word);
    i += 64;
  }
  while (end - i >= 8) {
    count += std::popcount(static_cast<unsigned>(bits[i >> 3]));
    i += 8;
  }
  while (i < end) count += get_bit(bits, i++);
  return count;
}

}  // namespace sightline::arrow
