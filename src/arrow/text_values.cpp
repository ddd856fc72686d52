#include "arrow/text_values.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

namespace sightline::arrow {
namespace {

constexpr int64_t kMaxSafeJsonInteger = 9007199254740991;  // 2^53 - 1

template <class T>
T load(const void* buffer, int64_t index) {
  T value;
  std::memcpy(&value, static_cast<const uint8_t*>(buffer) + index * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return value;
}

template <class T>
void append_number(std::string& out, T value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

// Writes a non-negative value in at least `width` digits, zero-padded, at `p`; returns the end.
char* put_padded(char* p, int64_t value, int width) {
  char digits[24];
  int n = 0;
  uint64_t v = static_cast<uint64_t>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n < width) digits[n++] = '0';
  while (n > 0) *p++ = digits[--n];
  return p;
}

void append_padded(std::string& out, int64_t value, int width) {
  char buf[24];
  out.append(buf, put_padded(buf, value, width));
}

constexpr int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
constexpr int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

int64_t units_per_second(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::Second: return 1;
    case TimeUnit::Millisecond: return 1'000;
    case TimeUnit::Microsecond: return 1'000'000;
    case TimeUnit::Nanosecond: return 1'000'000'000;
  }
  return 1;
}

int fraction_digits(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::Second: return 0;
    case TimeUnit::Millisecond: return 3;
    case TimeUnit::Microsecond: return 6;
    case TimeUnit::Nanosecond: return 9;
  }
  return 0;
}

// ".fff" / ".ffffff" / ".fffffffff" for a non-zero fraction (`digits` digits given), trailing zero
// groups of three dropped: 500000 us -> ".500".
void append_fraction(std::string& out, int64_t fraction, int digits) {
  if (fraction == 0) return;
  while (digits > 3 && fraction % 1000 == 0) {
    fraction /= 1000;
    digits -= 3;
  }
  out.push_back('.');
  append_padded(out, fraction, digits);
}

// HH:MM:SS[.fraction] for a non-negative count of units since midnight.
void append_clock(std::string& out, int64_t units, TimeUnit unit) {
  const int64_t per_second = units_per_second(unit);
  const int64_t seconds = units / per_second;
  char buf[32];
  char* p = put_padded(buf, seconds / 3600, 2);
  *p++ = ':';
  p = put_padded(p, seconds / 60 % 60, 2);
  *p++ = ':';
  p = put_padded(p, seconds % 60, 2);
  out.append(buf, p);
  append_fraction(out, units % per_second, fraction_digits(unit));
}

// Which child of a union holds element `physical`, and where in that child; false if malformed.
bool union_position(const ArrowArray& a, const DataType& t, int64_t physical, size_t& child, int64_t& position) {
  const int8_t type_id = load<int8_t>(a.buffers[0], physical);
  auto it = std::find(t.union_type_ids.begin(), t.union_type_ids.end(), type_id);
  if (it == t.union_type_ids.end()) return false;
  child = static_cast<size_t>(it - t.union_type_ids.begin());
  position = t.kind == TypeKind::DenseUnion ? load<int32_t>(a.buffers[1], physical) : physical;
  return position >= 0 && position < a.children[child]->length;
}

int64_t load_index(const ArrowArray& a, const DataType& index_type, int64_t physical) {
  switch (index_type.bit_width) {
    case 8: return index_type.is_signed ? load<int8_t>(a.buffers[1], physical) : load<uint8_t>(a.buffers[1], physical);
    case 16:
      return index_type.is_signed ? load<int16_t>(a.buffers[1], physical) : load<uint16_t>(a.buffers[1], physical);
    case 32:
      return index_type.is_signed ? load<int32_t>(a.buffers[1], physical) : load<uint32_t>(a.buffers[1], physical);
    default: {
      uint64_t v = load<uint64_t>(a.buffers[1], physical);
      return (!index_type.is_signed && v > static_cast<uint64_t>(INT64_MAX)) ? -1 : static_cast<int64_t>(v);
    }
  }
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1F;
  uint32_t mantissa = h & 0x3FF;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mantissa & 0x3FF) << 13;
    }
  } else if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  return std::bit_cast<float>(bits);
}

template <class F>
void append_float(std::string& out, F value, TextStyle style) {
  if (std::isfinite(value)) {
    append_number(out, value);
  } else if (style == TextStyle::Json) {
    out += "null";
  } else {
    out += std::isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity");
  }
}

void append_int64(std::string& out, int64_t v, TextStyle style) {
  const bool quote = style == TextStyle::Json && (v > kMaxSafeJsonInteger || v < -kMaxSafeJsonInteger);
  if (quote) out.push_back('"');
  append_number(out, v);
  if (quote) out.push_back('"');
}

void append_uint64(std::string& out, uint64_t v, TextStyle style) {
  const bool quote = style == TextStyle::Json && v > static_cast<uint64_t>(kMaxSafeJsonInteger);
  if (quote) out.push_back('"');
  append_number(out, v);
  if (quote) out.push_back('"');
}

// Length of the well-formed UTF-8 sequence at s[i] (Unicode table 3-7), or 0 if there is none.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  const size_t left = s.size() - i;
  auto continuation = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && continuation(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return left >= 3 && continuation(i + 1, lo, hi) && continuation(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return left >= 4 && continuation(i + 1, lo, hi) && continuation(i + 2) && continuation(i + 3) ? 4 : 0;
  }
  return 0;
}

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// Appends `text` with invalid UTF-8 replaced; with `json_escape`, also escapes for a JSON string.
void append_utf8(std::string& out, std::string_view text, bool json_escape) {
  size_t run_start = 0;
  size_t i = 0;
  auto flush = [&] { out.append(text.data() + run_start, i - run_start); };
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (json_escape && (c < 0x20 || c == '"' || c == '\\')) {
        flush();
        switch (c) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          case '\b': out += "\\b"; break;
          case '\f': out += "\\f"; break;
          default: {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
          }
        }
        run_start = ++i;
      } else {
        ++i;
      }
      continue;
    }
    const size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      flush();
      out += kReplacementCharacter;
      run_start = ++i;
    } else {
      i += length;
    }
  }
  flush();
}

std::string_view variable_width_value(const ArrowArray& a, const DataType& t, int64_t physical, bool& ok) {
  int64_t begin, end;
  if (t.kind == TypeKind::LargeUtf8 || t.kind == TypeKind::LargeBinary) {
    begin = load<int64_t>(a.buffers[1], physical);
    end = load<int64_t>(a.buffers[1], physical + 1);
  } else {
    begin = load<int32_t>(a.buffers[1], physical);
    end = load<int32_t>(a.buffers[1], physical + 1);
  }
  ok = begin >= 0 && end >= begin && (end == begin || a.buffers[2]);
  if (!ok || end == begin) return {};
  return {static_cast<const char*>(a.buffers[2]) + begin, static_cast<size_t>(end - begin)};
}

}  // namespace

// --- formatting helpers ------------------------------------------------------------------------

void append_date(std::string& out, int64_t days) {
  // Civil date from days since 1970-01-01 in the proleptic Gregorian calendar (eras of 400 years).
  const int64_t z = days + 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t day_of_era = z - era * 146097;
  const int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;
  const int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = year_of_era + era * 400 + (month <= 2);
  char buf[40];
  char* p = buf;
  if (year < 0) *p++ = '-';
  if (year > 9999) *p++ = '+';
  p = put_padded(p, year < 0 ? -year : year, 4);
  *p++ = '-';
  p = put_padded(p, month, 2);
  *p++ = '-';
  p = put_padded(p, day, 2);
  out.append(buf, p);
}

void append_timestamp(std::string& out, int64_t value, TimeUnit unit, bool utc) {
  const int64_t per_day = 86400 * units_per_second(unit);
  append_date(out, floor_div(value, per_day));
  out.push_back('T');
  append_clock(out, floor_mod(value, per_day), unit);
  if (utc) out.push_back('Z');
}

void append_time_of_day(std::string& out, int64_t value, TimeUnit unit) {
  if (value < 0) {  // not a time of day; show it rather than fail
    out.push_back('-');
    value = -value;
  }
  append_clock(out, value, unit);
}

void append_interval(std::string& out, int64_t months, int64_t days, int64_t nanoseconds) {
  if (months == 0 && days == 0 && nanoseconds == 0) {
    out += "PT0S";
    return;
  }
  out.push_back('P');
  auto part = [&](int64_t value, char designator) {
    if (value == 0) return;
    append_number(out, value);
    out.push_back(designator);
  };
  part(months / 12, 'Y');
  part(months % 12, 'M');
  part(days, 'D');
  if (nanoseconds == 0) return;
  out.push_back('T');
  constexpr int64_t kSecond = 1'000'000'000;
  part(nanoseconds / (3600 * kSecond), 'H');
  part(nanoseconds / (60 * kSecond) % 60, 'M');
  const int64_t rest = nanoseconds % (60 * kSecond);
  if (rest != 0) {
    if (rest < 0) out.push_back('-');
    const int64_t magnitude = rest < 0 ? -rest : rest;
    append_number(out, magnitude / kSecond);
    append_fraction(out, magnitude % kSecond, 9);
    out.push_back('S');
  }
}

void append_decimal(std::string& out, const uint8_t* bytes, int bit_width, int scale) {
  const int byte_count = bit_width / 8;
  const int limb_count = (byte_count + 7) / 8;
  const bool negative = (bytes[byte_count - 1] & 0x80) != 0;
  uint8_t extended[32];
  std::memcpy(extended, bytes, static_cast<size_t>(byte_count));
  std::memset(extended + byte_count, negative ? 0xFF : 0x00, static_cast<size_t>(limb_count * 8 - byte_count));
  uint64_t limbs[4] = {};
  std::memcpy(limbs, extended, static_cast<size_t>(limb_count * 8));
  if (negative) {  // two's complement magnitude
    uint64_t carry = 1;
    for (int i = 0; i < limb_count; ++i) {
      limbs[i] = ~limbs[i] + carry;
      carry = (carry && limbs[i] == 0) ? 1 : 0;
    }
  }
  // Digits, least significant first, 19 at a time (one step when the magnitude fits 64 bits).
  char digits[100];
  int length = 0;
  if (std::all_of(limbs + 1, limbs + limb_count, [](uint64_t l) { return l == 0; })) {
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, limbs[0]);
    length = static_cast<int>(end - digits);
    std::reverse(digits, digits + length);
    limbs[0] = 0;
  }
  constexpr uint64_t kChunk = 10'000'000'000'000'000'000ull;  // 10^19
  auto nonzero = [&] { return std::any_of(limbs, limbs + limb_count, [](uint64_t l) { return l != 0; }); };
  while (nonzero()) {
    unsigned __int128 remainder = 0;
    for (int i = limb_count - 1; i >= 0; --i) {
      unsigned __int128 current = (remainder << 64) | limbs[i];
      limbs[i] = static_cast<uint64_t>(current / kChunk);
      remainder = current % kChunk;
    }
    uint64_t chunk = static_cast<uint64_t>(remainder);
    const bool more = nonzero();
    for (int k = 0; k < 19 && (more || chunk != 0); ++k) {
      digits[length++] = static_cast<char>('0' + chunk % 10);
      chunk /= 10;
    }
  }
  if (length == 0) digits[length++] = '0';
  std::reverse(digits, digits + length);
  const bool is_zero = length == 1 && digits[0] == '0';
  if (negative && !is_zero) out.push_back('-');
  if (scale <= 0) {
    out.append(digits, static_cast<size_t>(length));
    if (!is_zero) out.append(static_cast<size_t>(-scale), '0');
  } else if (length <= scale) {
    out += "0.";
    out.append(static_cast<size_t>(scale - length), '0');
    out.append(digits, static_cast<size_t>(length));
  } else {
    out.append(digits, static_cast<size_t>(length - scale));
    out.push_back('.');
    out.append(digits + (length - scale), static_cast<size_t>(scale));
  }
}

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  append_utf8(out, text, true);
  out.push_back('"');
}

void append_valid_utf8(std::string& out, std::string_view text) { append_utf8(out, text, false); }

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    const uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
}

// --- values --------------------------------------------------------------------------------------

bool is_null(const ArrowArray& a, const Field& field, int64_t index) {
  const DataType& t = field.type;
  const int64_t physical = a.offset + index;
  if (t.kind == TypeKind::Null) return true;
  if (t.kind == TypeKind::SparseUnion || t.kind == TypeKind::DenseUnion) {
    size_t child = 0;
    int64_t position = 0;
    if (!union_position(a, t, physical, child, position)) return true;
    return is_null(*a.children[child], t.children[child], position);
  }
  const auto* validity = static_cast<const uint8_t*>(a.buffers[0]);
  if (validity && !get_bit(validity, physical)) return true;
  if (field.dictionary) {
    const int64_t k = load_index(a, t, physical);
    if (k < 0 || k >= a.dictionary->length) return true;
    return is_null(*a.dictionary, *field.dictionary, k);
  }
  return false;
}

void ValueRenderer::bad_data(std::string& out, const Field& field, const std::string& what, TextStyle style) {
  if (!error_) {
    error_ = Error{ErrorKind::Internal, "Arrow data of column '" + field.name + "' is malformed: " + what, ""};
  }
  if (style == TextStyle::Json) out += "null";
}

void ValueRenderer::append(std::string& out, const ArrowArray& a, const Field& field, int64_t index,
                           TextStyle style) {
  const DataType& t = field.type;
  const int64_t physical = a.offset + index;
  const bool json = style == TextStyle::Json;
  auto append_null = [&] {
    if (json) out += "null";
  };
  if (t.kind == TypeKind::Null) return append_null();
  if (t.kind == TypeKind::SparseUnion || t.kind == TypeKind::DenseUnion) {
    size_t child = 0;
    int64_t position = 0;
    if (!union_position(a, t, physical, child, position)) return bad_data(out, field, "a union type id or offset is invalid", style);
    return append(out, *a.children[child], t.children[child], position, style);
  }
  const auto* validity = static_cast<const uint8_t*>(a.buffers[0]);
  if (validity && !get_bit(validity, physical)) return append_null();
  if (field.dictionary) {
    const int64_t k = load_index(a, t, physical);
    if (k < 0 || k >= a.dictionary->length) return bad_data(out, field, "a dictionary index is out of range", style);
    return append(out, *a.dictionary, *field.dictionary, k, style);
  }
  const void* values = a.buffers[1];
  switch (t.kind) {
    case TypeKind::Bool:
      out += get_bit(static_cast<const uint8_t*>(values), physical) ? "true" : "false";
      return;
    case TypeKind::Int:
      switch (t.bit_width) {
        case 8: return t.is_signed ? append_number(out, load<int8_t>(values, physical))
                                   : append_number(out, load<uint8_t>(values, physical));
        case 16: return t.is_signed ? append_number(out, load<int16_t>(values, physical))
                                    : append_number(out, load<uint16_t>(values, physical));
        case 32: return t.is_signed ? append_number(out, load<int32_t>(values, physical))
                                    : append_number(out, load<uint32_t>(values, physical));
        default: return t.is_signed ? append_int64(out, load<int64_t>(values, physical), style)
                                    : append_uint64(out, load<uint64_t>(values, physical), style);
      }
    case TypeKind::Float:
      switch (t.float_precision) {
        case FloatPrecision::Half: return append_float(out, half_to_float(load<uint16_t>(values, physical)), style);
        case FloatPrecision::Single: return append_float(out, load<float>(values, physical), style);
        case FloatPrecision::Double: return append_float(out, load<double>(values, physical), style);
      }
      return;
    case TypeKind::Decimal: {
      const size_t start = out.size();
      append_decimal(out, static_cast<const uint8_t*>(values) + physical * (t.bit_width / 8), t.bit_width, t.scale);
      if (json && t.scale == 0) {  // an integer in disguise: quote it beyond the safe range, like int64
        std::string_view digits(out.data() + start, out.size() - start);
        if (!digits.empty() && digits[0] == '-') digits.remove_prefix(1);
        if (digits.size() > 16 || (digits.size() == 16 && digits > "9007199254740991")) {
          out.insert(out.begin() + static_cast<std::ptrdiff_t>(start), '"');
          out.push_back('"');
        }
      }
      return;
    }
    case TypeKind::Utf8:
    case TypeKind::LargeUtf8:
    case TypeKind::Binary:
    case TypeKind::LargeBinary: {
      bool ok = true;
      std::string_view bytes = variable_width_value(a, t, physical, ok);
      if (!ok) return bad_data(out, field, "string offsets are invalid", style);
      const bool text = t.kind == TypeKind::Utf8 || t.kind == TypeKind::LargeUtf8;
      if (json) out.push_back('"');
      if (text) append_utf8(out, bytes, json);
      else append_base64(out, bytes);
      if (json) out.push_back('"');
      return;
    }
    case TypeKind::FixedSizeBinary: {
      std::string_view bytes(static_cast<const char*>(values) + physical * t.fixed_size,
                             static_cast<size_t>(t.fixed_size));
      if (json) out.push_back('"');
      append_base64(out, bytes);
      if (json) out.push_back('"');
      return;
    }
    case TypeKind::Date: {
      const int64_t days = t.date_unit == DateUnit::Day ? load<int32_t>(values, physical)
                                                        : floor_div(load<int64_t>(values, physical), 86'400'000);
      if (json) out.push_back('"');
      append_date(out, days);
      if (json) out.push_back('"');
      return;
    }
    case TypeKind::Time: {
      const int64_t v = t.bit_width == 32 ? load<int32_t>(values, physical) : load<int64_t>(values, physical);
      if (json) out.push_back('"');
      append_time_of_day(out, v, t.time_unit);
      if (json) out.push_back('"');
      return;
    }
    case TypeKind::Timestamp:
      if (json) out.push_back('"');
      append_timestamp(out, load<int64_t>(values, physical), t.time_unit, !t.timezone.empty());
      if (json) out.push_back('"');
      return;
    case TypeKind::Duration: return append_int64(out, load<int64_t>(values, physical), style);
    case TypeKind::Interval: {
      int64_t months = 0, days = 0, nanoseconds = 0;
      if (t.interval_unit == IntervalUnit::YearMonth) {
        months = load<int32_t>(values, physical);
      } else if (t.interval_unit == IntervalUnit::DayTime) {
        days = load<int32_t>(values, physical * 2);
        nanoseconds = int64_t{load<int32_t>(values, physical * 2 + 1)} * 1'000'000;
      } else {
        months = load<int32_t>(values, physical * 4);
        days = load<int32_t>(values, physical * 4 + 1);
        nanoseconds = load<int64_t>(values, physical * 2 + 1);
      }
      if (json) out.push_back('"');
      append_interval(out, months, days, nanoseconds);
      if (json) out.push_back('"');
      return;
    }
    case TypeKind::List:
    case TypeKind::LargeList:
    case TypeKind::FixedSizeList:
    case TypeKind::Struct:
    case TypeKind::Map: return append_nested(out, a, field, physical);
    case TypeKind::Null:
    case TypeKind::SparseUnion:
    case TypeKind::DenseUnion: return;  // handled above
  }
}

// Lists, structs and maps, always as JSON (in CSV cells too).
void ValueRenderer::append_nested(std::string& out, const ArrowArray& a, const Field& field, int64_t physical) {
  const DataType& t = field.type;
  if (t.kind == TypeKind::Struct) {
    out.push_back('{');
    for (size_t i = 0; i < t.children.size(); ++i) {
      if (i) out.push_back(',');
      append_json_string(out, t.children[i].name);
      out.push_back(':');
      append(out, *a.children[i], t.children[i], physical, TextStyle::Json);
    }
    out.push_back('}');
    return;
  }
  int64_t begin, end;
  if (t.kind == TypeKind::FixedSizeList) {
    begin = physical * t.fixed_size;
    end = begin + t.fixed_size;
  } else if (t.kind == TypeKind::LargeList) {
    begin = load<int64_t>(a.buffers[1], physical);
    end = load<int64_t>(a.buffers[1], physical + 1);
  } else {
    begin = load<int32_t>(a.buffers[1], physical);
    end = load<int32_t>(a.buffers[1], physical + 1);
  }
  const ArrowArray& child = *a.children[0];
  if (begin < 0 || end < begin || end > child.length) {
    return bad_data(out, field, "list offsets are out of range", TextStyle::Json);
  }
  out.push_back('[');
  for (int64_t i = begin; i < end; ++i) {
    if (i > begin) out.push_back(',');
    append(out, child, t.children[0], i, TextStyle::Json);
  }
  out.push_back(']');
}

}  // namespace sightline::arrow
