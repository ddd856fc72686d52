// Arrow IPC stream reading: the framing (continuation marker, metadata length, Message
// flatbuffer, body), the few flatbuffer tables needed (Message, Schema, Field, the types,
// RecordBatch, DictionaryBatch), and C data interface arrays pointing into aligned copies of
// the bodies, every part checked first (the header says what and why).
#include "arrow/ipc_reader.h"

#include <cstring>
#include <deque>
#include <tuple>
#include <map>
#include <optional>

namespace sightline::arrow {

namespace {

// Thrown inside the reader when the body is not what it claims; read_ipc_stream turns it into
// an InvalidInput error.
struct Refusal {
  std::string message;
};
[[noreturn]] void refuse(std::string message) { throw Refusal{std::move(message)}; }

// A read-only view of one flatbuffer, every access bounds-checked.
class Flatbuffer {
 public:
  struct Table {
    size_t pos = 0;
    size_t vtable = 0;
    uint16_t vtable_size = 0;
  };

  Flatbuffer(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <class T>
  T scalar(size_t at) const {
    need(at, sizeof(T));
    T v;
    std::memcpy(&v, data_ + at, sizeof(T));
    return v;
  }
  Table root() const { return table(scalar<uint32_t>(0)); }
  Table table(size_t pos) const {
    const int64_t to_vtable = scalar<int32_t>(pos);
    const int64_t vtable = static_cast<int64_t>(pos) - to_vtable;
    if (vtable < 0 || static_cast<uint64_t>(vtable) >= size_) refuse("a flatbuffer table points outside its message");
    Table t{pos, static_cast<size_t>(vtable), scalar<uint16_t>(static_cast<size_t>(vtable))};
    if (t.vtable_size < 4) refuse("a flatbuffer table has a broken vtable");
    need(t.vtable, t.vtable_size);
    return t;
  }
  // Where field `id` of `t` is stored, or 0 when it is absent.
  size_t field(const Table& t, int id) const {
    const size_t slot = 4 + 2 * static_cast<size_t>(id);
    if (slot + 2 > t.vtable_size) return 0;
    const uint16_t offset = scalar<uint16_t>(t.vtable + slot);
    return offset ? t.pos + offset : 0;
  }
  template <class T>
  T get(const Table& t, int id, T fallback) const {
    const size_t at = field(t, id);
    return at ? scalar<T>(at) : fallback;
  }
  std::optional<Table> child(const Table& t, int id) const {
    const size_t at = field(t, id);
    if (!at) return std::nullopt;
    return table(at + scalar<uint32_t>(at));
  }
  // A vector field: where its elements start and how many there are (each `element` bytes).
  std::pair<size_t, size_t> vector(const Table& t, int id, size_t element) const {
    const size_t at = field(t, id);
    if (!at) return {0, 0};
    const size_t v = at + scalar<uint32_t>(at);
    const size_t count = scalar<uint32_t>(v);
    if (element && count > (size_ - std::min(size_, v + 4)) / element) refuse("a flatbuffer vector runs past its message");
    return {v + 4, count};
  }
  Table table_in_vector(size_t element_pos) const { return table(element_pos + scalar<uint32_t>(element_pos)); }
  std::string string(const Table& t, int id) const {
    auto [start, length] = vector(t, id, 1);
    return std::string(reinterpret_cast<const char*>(data_ + start), length);
  }

 private:
  void need(size_t at, size_t n) const {
    if (at > size_ || n > size_ - at) refuse("a flatbuffer field lies outside its message");
  }
  const uint8_t* data_;
  size_t size_;
};

// Message.fbs / Schema.fbs numbering.
enum MessageHeader : uint8_t { kSchema = 1, kDictionaryBatch = 2, kRecordBatch = 3 };
enum TypeId : uint8_t { kNull = 1, kInt = 2, kFloat = 3, kUtf8 = 5, kBool = 6, kDecimal = 7, kDate = 8, kTimestamp = 10, kLargeUtf8 = 20 };

const char* type_name(uint8_t id) {
  static const char* const names[] = {"none",   "Null",   "Int",      "FloatingPoint", "Binary", "Utf8",        "Bool",
                                      "Decimal", "Date",  "Time",     "Timestamp",     "Interval", "List",     "Struct",
                                      "Union",  "FixedSizeBinary", "FixedSizeList", "Map", "Duration", "LargeBinary",
                                      "LargeUtf8", "LargeList", "RunEndEncoded", "BinaryView", "Utf8View", "ListView", "LargeListView"};
  return id < sizeof(names) / sizeof(names[0]) ? names[id] : "unknown";
}

enum class Layout { None, Fixed, Bits, Offsets32, Offsets64 };

// What a column holds, as the C data interface spells it, and how its buffers are laid out.
struct ColumnType {
  std::string format;
  Layout layout = Layout::Fixed;
  size_t width = 0;  // bytes per value (Fixed)
};

struct Field {
  std::string name;
  bool nullable = true;
  ColumnType type;                      // the values (of the dictionary, when encoded)
  std::optional<ColumnType> index;      // dictionary-encoded: the indices' type
  int64_t dictionary_id = 0;
};

ColumnType int_type(int bits, bool is_signed, const std::string& what) {
  static const std::map<int, std::pair<const char*, const char*>> formats = {{8, {"c", "C"}}, {16, {"s", "S"}}, {32, {"i", "I"}}, {64, {"l", "L"}}};
  auto it = formats.find(bits);
  if (it == formats.end()) refuse(what + ": Arrow integers of " + std::to_string(bits) + " bits are not read");
  return {is_signed ? it->second.first : it->second.second, Layout::Fixed, static_cast<size_t>(bits / 8)};
}

ColumnType parse_type(const Flatbuffer& fb, const Flatbuffer::Table& field, const std::string& what) {
  const uint8_t id = fb.get<uint8_t>(field, 2, 0);
  const auto type = fb.child(field, 3);
  if (id != kNull && !type) refuse(what + ": its Arrow type is missing");
  switch (id) {
    case kNull: return {"n", Layout::None, 0};
    case kInt: return int_type(fb.get<int32_t>(*type, 0, 0), fb.get<uint8_t>(*type, 1, 0) != 0, what);
    case kFloat: {
      const int16_t precision = fb.get<int16_t>(*type, 0, 0);
      if (precision == 1) return {"f", Layout::Fixed, 4};
      if (precision == 2) return {"g", Layout::Fixed, 8};
      refuse(what + ": Arrow half-precision floats are not read; send float32 or float64");
    }
    case kBool: return {"b", Layout::Bits, 0};
    case kUtf8: return {"u", Layout::Offsets32, 0};
    case kLargeUtf8: return {"U", Layout::Offsets64, 0};
    case kDate: return fb.get<int16_t>(*type, 0, 1) == 0 ? ColumnType{"tdD", Layout::Fixed, 4} : ColumnType{"tdm", Layout::Fixed, 8};
    case kTimestamp: {
      static const char units[] = {'s', 'm', 'u', 'n'};
      const int16_t unit = fb.get<int16_t>(*type, 0, 0);
      if (unit < 0 || unit > 3) refuse(what + ": unknown timestamp unit");
      std::string zone = fb.string(*type, 1);
      if (zone.size() > 64 || zone.find_first_of(std::string("\0,", 2)) != std::string::npos) refuse(what + ": the timestamp's time zone is not valid");
      return {std::string("ts") + units[unit] + ":" + zone, Layout::Fixed, 8};
    }
    case kDecimal: {
      const int32_t precision = fb.get<int32_t>(*type, 0, 0), scale = fb.get<int32_t>(*type, 1, 0), bits = fb.get<int32_t>(*type, 2, 128);
      if (bits != 128) refuse(what + ": Arrow decimals of " + std::to_string(bits) + " bits are not read; send decimal128");
      if (precision < 1 || precision > 38 || scale < 0 || scale > precision) refuse(what + ": the decimal's precision or scale is not valid");
      return {"d:" + std::to_string(precision) + "," + std::to_string(scale), Layout::Fixed, 16};
    }
    default:
      refuse(what + ": the Arrow type " + type_name(id) +
             " is not read; send null, integer, float, bool, utf8, date, timestamp or decimal128 columns (or dictionaries of them)");
  }
}

std::vector<Field> parse_schema(const Flatbuffer& fb, const Flatbuffer::Table& schema) {
  if (fb.get<int16_t>(schema, 0, 0) != 0) refuse("big-endian Arrow data is not read");
  auto [start, count] = fb.vector(schema, 1, 4);
  if (count == 0) refuse("the Arrow schema has no columns");
  if (count > 4096) refuse("the Arrow schema has more than 4096 columns");
  std::vector<Field> fields;
  for (size_t i = 0; i < count; ++i) {
    const auto t = fb.table_in_vector(start + 4 * i);
    Field f;
    f.name = fb.string(t, 0);
    const std::string what = "column '" + f.name.substr(0, 64) + "'";
    f.nullable = fb.get<uint8_t>(t, 1, 0) != 0;
    if (fb.vector(t, 5, 4).second > 0) refuse(what + ": nested Arrow columns are not read");
    f.type = parse_type(fb, t, what);
    if (auto dictionary = fb.child(t, 4)) {
      f.dictionary_id = fb.get<int64_t>(*dictionary, 0, 0);
      auto index = fb.child(*dictionary, 1);
      f.index = index ? int_type(fb.get<int32_t>(*index, 0, 32), fb.get<uint8_t>(*index, 1, 1) != 0, what) : int_type(32, true, what);
      if (f.type.layout == Layout::None) refuse(what + ": a dictionary of nulls is not read");
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

size_t utf8_error(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > n) return i;
    for (size_t k = 1; k < len; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    const uint32_t cp = len == 1 ? c
                        : len == 2 ? ((c & 0x1F) << 6) | (s[i + 1] & 0x3F)
                        : len == 3 ? ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F)
                                   : ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
    if ((len == 2 && cp < 0x80) || (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += len;
  }
  return n;
}

void noop_release(ArrowArray* a) { a->release = nullptr; }

}  // namespace

// Everything a decoded stream holds; arrays point into `bodies`.
struct DecodedIpc {
  std::vector<Field> fields;
  std::deque<std::vector<uint64_t>> bodies;  // 8-byte aligned copies of the message bodies
  std::deque<ArrowArray> arrays;
  std::deque<std::vector<const void*>> buffer_lists;
  std::deque<std::vector<ArrowArray*>> child_lists;
  std::map<int64_t, ArrowArray*> dictionaries;
  std::vector<ArrowArray*> batches;
  int64_t rows = 0;
  size_t next_batch = 0;
  std::string last_error;
  static constexpr int64_t kZeroOffsets[1] = {0};  // offsets of an empty string column

  ArrowArray* new_array(int64_t length, int64_t null_count, std::vector<const void*> buffers, std::vector<ArrowArray*> children = {}) {
    buffer_lists.push_back(std::move(buffers));
    child_lists.push_back(std::move(children));
    ArrowArray& a = arrays.emplace_back();
    a.length = length;
    a.null_count = null_count;
    a.offset = 0;
    a.n_buffers = static_cast<int64_t>(buffer_lists.back().size());
    a.n_children = static_cast<int64_t>(child_lists.back().size());
    a.buffers = buffer_lists.back().empty() ? nullptr : buffer_lists.back().data();
    a.children = child_lists.back().empty() ? nullptr : child_lists.back().data();
    a.dictionary = nullptr;
    a.release = &noop_release;
    a.private_data = nullptr;
    return &a;
  }
};

namespace {

// Reads one column's node and buffers from a record batch, checking every range and value the
// consumer will trust.
class BatchReader {
 public:
  BatchReader(DecodedIpc& d, const Flatbuffer& fb, const Flatbuffer::Table& batch, uint8_t* body, size_t body_size)
      : d_(d), body_(body), body_size_(body_size) {
    std::tie(nodes_, node_count_) = fb.vector(batch, 1, 16);
    std::tie(buffers_, buffer_count_) = fb.vector(batch, 2, 16);
    fb_ = &fb;
    if (fb.child(batch, 3)) refuse("compressed Arrow bodies are not read; send the stream uncompressed");
    length_ = fb.get<int64_t>(batch, 0, 0);
    if (length_ < 0) refuse("an Arrow record batch has a negative length");
  }
  int64_t length() const { return length_; }

  ArrowArray* column(const ColumnType& type, const std::string& what, int64_t expected_length, int64_t dictionary_length = -1) {
    if (next_node_ >= node_count_) refuse("an Arrow record batch has fewer field nodes than columns");
    const size_t node = nodes_ + 16 * next_node_++;
    const int64_t length = fb_->scalar<int64_t>(node), nulls = fb_->scalar<int64_t>(node + 8);
    if (length != expected_length) refuse(what + ": its length differs from its record batch's");
    if (nulls < 0 || nulls > length) refuse(what + ": its null count is not valid");
    if (type.layout == Layout::None) return d_.new_array(length, length, {});
    auto [validity, validity_size] = buffer();
    if (nulls > 0 && validity_size < static_cast<size_t>((length + 7) / 8)) refuse(what + ": its validity buffer is too short");
    const void* valid = nulls > 0 ? validity : nullptr;
    auto [data, data_size] = buffer();
    switch (type.layout) {
      case Layout::Fixed:
        if (static_cast<uint64_t>(length) > data_size / type.width) refuse(what + ": its data buffer is too short");
        if (dictionary_length >= 0) check_indices(type, data, length, valid, dictionary_length, what);
        return d_.new_array(length, nulls, {valid, data});
      case Layout::Bits:
        if (static_cast<uint64_t>((length + 7) / 8) > data_size) refuse(what + ": its data buffer is too short");
        return d_.new_array(length, nulls, {valid, data});
      case Layout::Offsets32:
      case Layout::Offsets64: {
        auto [chars, chars_size] = buffer();
        const size_t width = type.layout == Layout::Offsets32 ? 4 : 8;
        if (length == 0 && data_size == 0) return d_.new_array(0, 0, {nullptr, DecodedIpc::kZeroOffsets, chars});
        if (static_cast<uint64_t>(length) + 1 > data_size / width) refuse(what + ": its offsets buffer is too short");
        check_strings(data, width, length, chars, chars_size, what);
        return d_.new_array(length, nulls, {valid, data, chars});
      }
      case Layout::None: break;
    }
    refuse(what + ": unknown layout");
  }

 private:
  std::pair<uint8_t*, size_t> buffer() {
    if (next_buffer_ >= buffer_count_) refuse("an Arrow record batch has fewer buffers than its columns need");
    const size_t at = buffers_ + 16 * next_buffer_++;
    const int64_t offset = fb_->scalar<int64_t>(at), length = fb_->scalar<int64_t>(at + 8);
    if (offset < 0 || length < 0 || static_cast<uint64_t>(offset) > body_size_ || static_cast<uint64_t>(length) > body_size_ - offset)
      refuse("an Arrow buffer lies outside its message body");
    return {body_ + offset, static_cast<size_t>(length)};
  }

  // Offsets non-decreasing within the characters, every string valid UTF-8.
  static void check_strings(const uint8_t* offsets, size_t width, int64_t length, const uint8_t* chars, size_t chars_size, const std::string& what) {
    auto at = [&](int64_t i) -> int64_t {
      if (width == 4) {
        int32_t v;
        std::memcpy(&v, offsets + 4 * i, 4);
        return v;
      }
      int64_t v;
      std::memcpy(&v, offsets + 8 * i, 8);
      return v;
    };
    int64_t previous = at(0);
    if (previous < 0 || static_cast<uint64_t>(previous) > chars_size) refuse(what + ": its offsets point outside its characters");
    for (int64_t i = 1; i <= length; ++i) {
      const int64_t next = at(i);
      if (next < previous || static_cast<uint64_t>(next) > chars_size) refuse(what + ": its offsets point outside its characters");
      if (utf8_error(chars + previous, static_cast<size_t>(next - previous)) != static_cast<size_t>(next - previous))
        refuse(what + ": row " + std::to_string(i) + " is not UTF-8 text");
      previous = next;
    }
  }

  // Every index of a row that is not null points into the dictionary; null rows get index 0.
  static void check_indices(const ColumnType& type, uint8_t* data, int64_t length, const void* validity, int64_t dictionary_length, const std::string& what) {
    const bool is_signed = type.format[0] >= 'a';
    for (int64_t i = 0; i < length; ++i) {
      uint8_t* p = data + i * type.width;
      const bool is_null = validity && !((static_cast<const uint8_t*>(validity)[i / 8] >> (i % 8)) & 1);
      if (is_null) {
        std::memset(p, 0, type.width);
        continue;
      }
      int64_t v = 0;
      uint64_t u = 0;
      std::memcpy(&u, p, type.width);
      if (is_signed && type.width < 8 && (u >> (8 * type.width - 1)) & 1) u |= ~uint64_t{0} << (8 * type.width);
      std::memcpy(&v, &u, 8);
      if ((is_signed && v < 0) || (!is_signed && u >= static_cast<uint64_t>(INT64_MAX)) || v >= dictionary_length)
        refuse(what + ": row " + std::to_string(i + 1) + " has a dictionary index outside its dictionary");
    }
  }

  DecodedIpc& d_;
  const Flatbuffer* fb_ = nullptr;
  uint8_t* body_;
  size_t body_size_;
  size_t nodes_ = 0, node_count_ = 0, next_node_ = 0;
  size_t buffers_ = 0, buffer_count_ = 0, next_buffer_ = 0;
  int64_t length_ = 0;
};

// The schema the stream exports, made anew for each get_schema call (the consumer releases it).
struct SchemaHolder {
  std::deque<std::string> strings;
  std::deque<ArrowSchema> schemas;
  std::vector<ArrowSchema*> children;
};

void release_schema(ArrowSchema* s) {
  delete static_cast<SchemaHolder*>(s->private_data);
  s->release = nullptr;
}
void release_child_schema(ArrowSchema* s) { s->release = nullptr; }

ArrowSchema& add_schema(SchemaHolder& h, std::string format, std::string name, int64_t flags) {
  const char* f = h.strings.emplace_back(std::move(format)).c_str();
  const char* n = h.strings.emplace_back(std::move(name)).c_str();
  ArrowSchema& s = h.schemas.emplace_back();
  s = ArrowSchema{f, n, nullptr, flags, 0, nullptr, nullptr, &release_child_schema, nullptr};
  return s;
}

int export_schema(const DecodedIpc& d, ArrowSchema* out) {
  auto* holder = new SchemaHolder();
  for (const auto& f : d.fields) {
    const int64_t flags = f.nullable ? ARROW_FLAG_NULLABLE : 0;
    ArrowSchema& column = add_schema(*holder, f.index ? f.index->format : f.type.format, f.name, flags);
    if (f.index) column.dictionary = &add_schema(*holder, f.type.format, "", ARROW_FLAG_NULLABLE);
    holder->children.push_back(&column);
  }
  *out = ArrowSchema{"+s", "", nullptr, 0, static_cast<int64_t>(holder->children.size()), holder->children.data(), nullptr, &release_schema, holder};
  return 0;
}

void read_dictionary(DecodedIpc& d, const Flatbuffer& fb, const Flatbuffer::Table& header, uint8_t* body, size_t body_size) {
  const int64_t id = fb.get<int64_t>(header, 0, 0);
  if (fb.get<uint8_t>(header, 2, 0) != 0) refuse("Arrow delta dictionaries are not read");
  auto data = fb.child(header, 1);
  if (!data) refuse("an Arrow dictionary batch has no data");
  const Field* field = nullptr;
  for (const auto& f : d.fields)
    if (f.index && f.dictionary_id == id) field = &f;
  if (!field) refuse("an Arrow dictionary batch belongs to no column");
  if (d.dictionaries.count(id)) refuse("column '" + field->name.substr(0, 64) + "': its dictionary is sent twice (replacement dictionaries are not read)");
  BatchReader reader(d, fb, *data, body, body_size);
  d.dictionaries[id] = reader.column(field->type, "column '" + field->name.substr(0, 64) + "' (its dictionary)", reader.length());
}

void read_batch(DecodedIpc& d, const Flatbuffer& fb, const Flatbuffer::Table& header, uint8_t* body, size_t body_size) {
  BatchReader reader(d, fb, header, body, body_size);
  std::vector<ArrowArray*> columns;
  for (const auto& f : d.fields) {
    const std::string what = "column '" + f.name.substr(0, 64) + "'";
    if (f.index) {
      auto dictionary = d.dictionaries.find(f.dictionary_id);
      if (dictionary == d.dictionaries.end()) refuse(what + ": a record batch comes before its dictionary");
      ArrowArray* indices = reader.column(*f.index, what, reader.length(), dictionary->second->length);
      indices->dictionary = dictionary->second;
      columns.push_back(indices);
    } else {
      columns.push_back(reader.column(f.type, what, reader.length()));
    }
  }
  d.batches.push_back(d.new_array(reader.length(), 0, {nullptr}, std::move(columns)));
  d.rows += reader.length();
}

std::unique_ptr<DecodedIpc> decode(std::string_view bytes) {
  auto d = std::make_unique<DecodedIpc>();
  bool have_schema = false;
  size_t pos = 0;
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  while (pos + 4 <= bytes.size()) {
    uint32_t length = u32(pos);
    pos += 4;
    if (length == 0xFFFFFFFFu) {
      if (pos + 4 > bytes.size()) refuse("the Arrow stream ends inside a message header");
      length = u32(pos);
      pos += 4;
    }
    if (length == 0) break;  // end of stream
    if (length > bytes.size() - pos) refuse("the Arrow stream ends inside a message");
    const auto* meta = reinterpret_cast<const uint8_t*>(bytes.data() + pos);
    Flatbuffer fb(meta, length);
    pos += length;
    const auto message = fb.root();
    const int64_t body_length = fb.get<int64_t>(message, 3, 0);
    if (body_length < 0 || static_cast<uint64_t>(body_length) > bytes.size() - pos) refuse("the Arrow stream ends inside a message body");
    auto& body = d->bodies.emplace_back((static_cast<size_t>(body_length) + 7) / 8);
    if (body_length > 0) std::memcpy(body.data(), bytes.data() + pos, static_cast<size_t>(body_length));
    pos += static_cast<size_t>(body_length);
    auto* body_bytes = reinterpret_cast<uint8_t*>(body.data());
    const uint8_t kind = fb.get<uint8_t>(message, 1, 0);
    const auto header = fb.child(message, 2);
    if (!header) refuse("an Arrow message has no header");
    if (kind == kSchema) {
      if (have_schema) refuse("the Arrow stream holds two schemas");
      d->fields = parse_schema(fb, *header);
      have_schema = true;
    } else if (!have_schema) {
      refuse("the Arrow stream does not start with its schema");
    } else if (kind == kDictionaryBatch) {
      read_dictionary(*d, fb, *header, body_bytes, static_cast<size_t>(body_length));
    } else if (kind == kRecordBatch) {
      read_batch(*d, fb, *header, body_bytes, static_cast<size_t>(body_length));
    } else {
      refuse("the Arrow stream holds a message that is neither a schema, a dictionary nor a record batch");
    }
  }
  if (!have_schema) refuse("the body is not an Arrow IPC stream (no schema message)");
  return d;
}

}  // namespace

IpcStream::IpcStream(std::unique_ptr<DecodedIpc> decoded) : decoded_(std::move(decoded)) {}
IpcStream::~IpcStream() = default;
IpcStream::IpcStream(IpcStream&&) noexcept = default;
IpcStream& IpcStream::operator=(IpcStream&&) noexcept = default;

std::vector<std::string> IpcStream::field_names() const {
  std::vector<std::string> names;
  for (const auto& f : decoded_->fields) names.push_back(f.name);
  return names;
}

int64_t IpcStream::rows() const { return decoded_->rows; }

void IpcStream::export_stream(ArrowArrayStream* out) {
  decoded_->next_batch = 0;
  out->private_data = decoded_.get();
  out->get_schema = [](ArrowArrayStream* s, ArrowSchema* schema) { return export_schema(*static_cast<DecodedIpc*>(s->private_data), schema); };
  out->get_next = [](ArrowArrayStream* s, ArrowArray* array) {
    auto* d = static_cast<DecodedIpc*>(s->private_data);
    if (d->next_batch >= d->batches.size()) {
      array->release = nullptr;  // the end
      return 0;
    }
    *array = *d->batches[d->next_batch++];
    return 0;
  };
  out->get_last_error = [](ArrowArrayStream* s) { return static_cast<DecodedIpc*>(s->private_data)->last_error.c_str(); };
  out->release = [](ArrowArrayStream* s) { s->release = nullptr; };
}

Result<IpcStream> read_ipc_stream(std::string_view bytes) {
  try {
    return IpcStream(decode(bytes));
  } catch (const Refusal& r) {
    return fail(ErrorKind::InvalidInput, r.message, "send an Arrow IPC stream (the format of application/vnd.apache.arrow.stream)");
  } catch (const std::bad_alloc&) {
    return fail(ErrorKind::InvalidInput, "the Arrow stream is too large to read", "send smaller batches");
  }
}

}  // namespace sightline::arrow
