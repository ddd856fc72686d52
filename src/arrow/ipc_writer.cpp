#include "arrow/ipc_writer.h"

#include "arrow/batch_writer.h"

#include <flatbuffers/flatbuffers.h>

#include <bit>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

namespace sightline::arrow {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the IPC writer copies native buffers into a little-endian stream");

using Builder = flatbuffers::FlatBufferBuilder;
using AnyOffset = flatbuffers::Offset<void>;
using Slot = flatbuffers::voffset_t;

// Vtable slots of the tables in Arrow's format/Schema.fbs and format/Message.fbs: the byte offset
// of field number k in a vtable is 4 + 2k.
namespace slot {
// table Message { version, header (type + value), bodyLength, custom_metadata }
constexpr Slot kMessageVersion = 4, kMessageHeaderType = 6, kMessageHeader = 8, kMessageBodyLength = 10;
// table Schema { endianness, fields, custom_metadata, features }
constexpr Slot kSchemaEndianness = 4, kSchemaFields = 6, kSchemaCustomMetadata = 8;
// table Field { name, nullable, type (type + value), dictionary, children, custom_metadata }
constexpr Slot kFieldName = 4, kFieldNullable = 6, kFieldTypeType = 8, kFieldType = 10, kFieldDictionary = 12,
               kFieldChildren = 14, kFieldCustomMetadata = 16;
// table KeyValue { key, value }
constexpr Slot kKeyValueKey = 4, kKeyValueValue = 6;
// table DictionaryEncoding { id, indexType, isOrdered, dictionaryKind }
constexpr Slot kDictionaryEncodingId = 4, kDictionaryEncodingIndexType = 6, kDictionaryEncodingIsOrdered = 8,
               kDictionaryEncodingKind = 10;
// table RecordBatch { length, nodes, buffers, compression, variadicBufferCounts }
constexpr Slot kRecordBatchLength = 4, kRecordBatchNodes = 6, kRecordBatchBuffers = 8;
// table DictionaryBatch { id, data, isDelta }
constexpr Slot kDictionaryBatchId = 4, kDictionaryBatchData = 6, kDictionaryBatchIsDelta = 8;
// Type tables.
constexpr Slot kIntBitWidth = 4, kIntIsSigned = 6;
constexpr Slot kFloatingPointPrecision = 4;
constexpr Slot kDecimalPrecision = 4, kDecimalScale = 6, kDecimalBitWidth = 8;
constexpr Slot kDateUnit = 4;
constexpr Slot kTimeUnit = 4, kTimeBitWidth = 6;
constexpr Slot kTimestampUnit = 4, kTimestampTimezone = 6;
constexpr Slot kIntervalUnit = 4;
constexpr Slot kDurationUnit = 4;
constexpr Slot kFixedSizeBinaryByteWidth = 4;
constexpr Slot kFixedSizeListListSize = 4;
constexpr Slot kMapKeysSorted = 4;
constexpr Slot kUnionMode = 4, kUnionTypeIds = 6;
}  // namespace slot

// Members of `union Type` in Schema.fbs.
enum class FbType : uint8_t {
  Null = 1,
  Int = 2,
  FloatingPoint = 3,
  Binary = 4,
  Utf8 = 5,
  Bool = 6,
  Decimal = 7,
  Date = 8,
  Time = 9,
  Timestamp = 10,
  Interval = 11,
  List = 12,
  Struct = 13,
  Union = 14,
  FixedSizeBinary = 15,
  FixedSizeList = 16,
  Map = 17,
  Duration = 18,
  LargeBinary = 19,
  LargeUtf8 = 20,
  LargeList = 21,
};

// Members of `union MessageHeader` in Message.fbs.
enum class FbMessageHeader : uint8_t { Schema = 1, DictionaryBatch = 2, RecordBatch = 3 };

constexpr int16_t kMetadataVersionV5 = 4;
constexpr int16_t kEndiannessLittle = 0;
constexpr int16_t kUnionModeSparse = 0, kUnionModeDense = 1;
constexpr uint32_t kContinuation = 0xFFFFFFFFu;

// The flatbuffer structs FieldNode { length: long; null_count: long } and
// Buffer { offset: long; length: long }: 16 bytes, 8-byte aligned, little-endian.
struct FbFieldNode {
  int64_t length;
  int64_t null_count;
};
struct FbBuffer {
  int64_t offset;
  int64_t length;
};
static_assert(sizeof(FbFieldNode) == 16 && alignof(FbFieldNode) == 8);
static_assert(sizeof(FbBuffer) == 16 && alignof(FbBuffer) == 8);

constexpr int64_t pad8(int64_t n) { return (n + 7) & ~int64_t{7}; }

template <class T>
void append_raw(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

Error data_error(const std::string& path, const std::string& what) {
  return Error{ErrorKind::Internal, "Arrow data of column '" + path + "' is malformed: " + what, ""};
}

// --- message bodies ------------------------------------------------------------------------------

// The body of one message, planned before any byte is copied: the field nodes, and for each
// buffer where its bytes come from (a range of the source arrays, or bytes made here for shifted
// bitmaps and re-based offsets) and where it goes in the body (8-byte-aligned offsets).
class Body {
 public:
  void add_node(int64_t length, int64_t null_count) { nodes_.push_back({length, null_count}); }

  // A buffer copied from `data`; `last_byte_mask` clears the unused bits of a bitmap's last byte.
  void add_buffer(const void* data, int64_t size, uint8_t last_byte_mask = 0xFF) {
    sources_.push_back({static_cast<const uint8_t*>(data), size, last_byte_mask});
    layout_.push_back({length_, size});
    length_ += pad8(size);
  }
  void add_empty_buffer() { add_buffer(nullptr, 0); }

  // A buffer of `size` bytes that the caller fills through the returned pointer.
  uint8_t* add_owned_buffer(int64_t size, uint8_t last_byte_mask = 0xFF) {
    owned_.push_back(std::make_unique_for_overwrite<uint8_t[]>(static_cast<size_t>(size > 0 ? size : 1)));
    add_buffer(owned_.back().get(), size, last_byte_mask);
    return owned_.back().get();
  }

  int64_t length() const { return length_; }
  const std::vector<FbFieldNode>& nodes() const { return nodes_; }
  const std::vector<FbBuffer>& layout() const { return layout_; }

  // Appends the body bytes: every buffer at its offset, zero padding in between.
  void append_to(std::string& out) const {
    static constexpr char kZeros[8] = {};
    for (const Source& s : sources_) {
      if (s.size > 0) {
        out.append(reinterpret_cast<const char*>(s.data), static_cast<size_t>(s.size - 1));
        out.push_back(static_cast<char>(s.data[s.size - 1] & s.last_byte_mask));
      }
      out.append(kZeros, static_cast<size_t>(pad8(s.size) - s.size));
    }
  }

 private:
  struct Source {
    const uint8_t* data;
    int64_t size;
    uint8_t last_byte_mask;
  };
  std::vector<FbFieldNode> nodes_;
  std::vector<Source> sources_;
  std::vector<FbBuffer> layout_;
  std::vector<std::unique_ptr<uint8_t[]>> owned_;
  int64_t length_ = 0;
};

// Adds bits [bit_offset, bit_offset + length) of `bits` as a bitmap starting at bit 0.
void add_bitmap(Body& body, const uint8_t* bits, int64_t bit_offset, int64_t length) {
  const int64_t bytes = (length + 7) / 8;
  const uint8_t mask = (length % 8) ? static_cast<uint8_t>((1u << (length % 8)) - 1) : 0xFF;
  const int shift = static_cast<int>(bit_offset % 8);
  const uint8_t* src = bits + bit_offset / 8;
  if (shift == 0) {
    body.add_buffer(src, bytes, mask);
    return;
  }
  uint8_t* dst = body.add_owned_buffer(bytes, mask);
  const int64_t src_bytes = (shift + length + 7) / 8;  // bytes of `src` that hold wanted bits
  int64_t i = 0;
  // Eight output bytes at a time while nine source bytes are readable.
  for (; i + 9 <= src_bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, src + i, sizeof word);
    word = (word >> shift) | (static_cast<uint64_t>(src[i + 8]) << (64 - shift));
    std::memcpy(dst + i, &word, sizeof word);
  }
  for (; i < bytes; ++i) {
    unsigned low = src[i] >> shift;
    unsigned high = (i + 1 < src_bytes) ? static_cast<unsigned>(src[i + 1]) << (8 - shift) : 0u;
    dst[i] = static_cast<uint8_t>(low | high);
  }
}

const uint8_t* buffer_at(const ArrowArray& a, int index) {
  return index < a.n_buffers ? static_cast<const uint8_t*>(a.buffers[index]) : nullptr;
}

// Nulls among elements [start, start + length) of `a` (logical indices, before a.offset).
int64_t null_count_of(const ArrowArray& a, int64_t start, int64_t length) {
  const uint8_t* validity = buffer_at(a, 0);
  if (!validity || length == 0) return 0;
  if (start == 0 && length == a.length && a.null_count >= 0) return a.null_count;
  return length - count_set_bits(validity, a.offset + start, length);
}

// Adds the offsets of elements [physical, physical + length) re-based to start at 0, and returns
// the first and last original offsets (the range of the child or data they cover).
template <class Offset>
Result<std::pair<int64_t, int64_t>> add_offsets(Body& body, const ArrowArray& a, int64_t physical, int64_t length,
                                                const std::string& path) {
  if (length == 0) {
    Offset zero = 0;
    std::memcpy(body.add_owned_buffer(sizeof(Offset)), &zero, sizeof zero);
    return std::pair<int64_t, int64_t>{0, 0};
  }
  const Offset* offsets = reinterpret_cast<const Offset*>(a.buffers[1]) + physical;
  const Offset first = offsets[0];
  const Offset last = offsets[length];
  if (first < 0 || last < first) {
    return fail(data_error(path, "offsets " + std::to_string(first) + ".." + std::to_string(last) + " are invalid"));
  }
  const int64_t bytes = (length + 1) * static_cast<int64_t>(sizeof(Offset));
  if (first == 0) {
    body.add_buffer(offsets, bytes);
  } else {
    Offset* dst = reinterpret_cast<Offset*>(body.add_owned_buffer(bytes));
    for (int64_t i = 0; i <= length; ++i) dst[i] = offsets[i] - first;
  }
  return std::pair<int64_t, int64_t>{first, last};
}

// Adds the field node and buffers of elements [start, start + length) of `a` (and of its
// children, depth first) to `body`. For dictionary-encoded fields this writes the indices; the
// dictionary goes into its own DictionaryBatch.
Result<void> encode_array(Body& body, const ArrowArray& a, const Field& field, int64_t start, int64_t length,
                          const std::string& path) {
  if (start < 0 || length < 0 || start + length > a.length) {
    return fail(data_error(path, "elements " + std::to_string(start) + ".." + std::to_string(start + length) +
                                     " are referenced but the array has " + std::to_string(a.length)));
  }
  const DataType& t = field.type;
  const int64_t physical = a.offset + start;

  // Types without a validity bitmap.
  if (t.kind == TypeKind::Null) {
    body.add_node(length, length);
    return {};
  }
  if (t.kind == TypeKind::SparseUnion || t.kind == TypeKind::DenseUnion) {
    body.add_node(length, 0);
    if (length == 0) body.add_empty_buffer();
    else body.add_buffer(buffer_at(a, 0) + physical, length);  // int8 type ids
    if (t.kind == TypeKind::SparseUnion) {
      for (size_t i = 0; i < t.children.size(); ++i) {
        const Field& child = t.children[i];
        if (auto ok = encode_array(body, *a.children[i], child, physical, length, path + "." + child.name); !ok) {
          return ok;
        }
      }
      return {};
    }
    // Dense: the int32 offsets point anywhere in the children, so the children go whole.
    if (length == 0) body.add_empty_buffer();
    else body.add_buffer(buffer_at(a, 1) + physical * 4, length * 4);
    for (size_t i = 0; i < t.children.size(); ++i) {
      const Field& child = t.children[i];
      const ArrowArray& c = *a.children[i];
      if (auto ok = encode_array(body, c, child, 0, c.length, path + "." + child.name); !ok) return ok;
    }
    return {};
  }

  const int64_t nulls = null_count_of(a, start, length);
  body.add_node(length, nulls);
  if (nulls == 0) {
    body.add_empty_buffer();
  } else {
    add_bitmap(body, buffer_at(a, 0), physical, length);
  }

  switch (t.kind) {
    case TypeKind::Bool:
      if (length == 0) body.add_empty_buffer();
      else add_bitmap(body, buffer_at(a, 1), physical, length);
      return {};
    case TypeKind::Int:
    case TypeKind::Float:
    case TypeKind::Decimal:
    case TypeKind::FixedSizeBinary:
    case TypeKind::Date:
    case TypeKind::Time:
    case TypeKind::Timestamp:
    case TypeKind::Duration:
    case TypeKind::Interval: {
      const int64_t width = t.bit_width / 8;
      if (length == 0) body.add_empty_buffer();
      else body.add_buffer(buffer_at(a, 1) + physical * width, length * width);
      return {};
    }
    case TypeKind::Utf8:
    case TypeKind::Binary:
    case TypeKind::LargeUtf8:
    case TypeKind::LargeBinary: {
      const bool large = t.kind == TypeKind::LargeUtf8 || t.kind == TypeKind::LargeBinary;
      auto range = large ? add_offsets<int64_t>(body, a, physical, length, path)
                         : add_offsets<int32_t>(body, a, physical, length, path);
      if (!range) return fail(range.error());
      const int64_t bytes = range->second - range->first;
      if (bytes > 0 && !buffer_at(a, 2)) return fail(data_error(path, "the string data buffer is missing"));
      body.add_buffer(bytes > 0 ? buffer_at(a, 2) + range->first : nullptr, bytes);
      return {};
    }
    case TypeKind::List:
    case TypeKind::LargeList:
    case TypeKind::Map: {
      auto range = t.kind == TypeKind::LargeList ? add_offsets<int64_t>(body, a, physical, length, path)
                                                 : add_offsets<int32_t>(body, a, physical, length, path);
      if (!range) return fail(range.error());
      const Field& child = t.children[0];
      return encode_array(body, *a.children[0], child, range->first, range->second - range->first,
                          path + "." + child.name);
    }
    case TypeKind::FixedSizeList: {
      const Field& child = t.children[0];
      return encode_array(body, *a.children[0], child, physical * t.fixed_size, length * t.fixed_size,
                          path + "." + child.name);
    }
    case TypeKind::Struct:
      for (size_t i = 0; i < t.children.size(); ++i) {
        const Field& child = t.children[i];
        if (auto ok = encode_array(body, *a.children[i], child, physical, length, path + "." + child.name); !ok) {
          return ok;
        }
      }
      return {};
    case TypeKind::Null:
    case TypeKind::SparseUnion:
    case TypeKind::DenseUnion: break;  // handled above
  }
  return {};
}

// --- flatbuffer metadata -------------------------------------------------------------------------

AnyOffset end_table(Builder& fbb, flatbuffers::uoffset_t start) { return AnyOffset(fbb.EndTable(start)); }

AnyOffset empty_table(Builder& fbb) { return end_table(fbb, fbb.StartTable()); }

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<void>>> build_key_values(Builder& fbb,
                                                                                      const KeyValueMetadata& kvs) {
  std::vector<AnyOffset> entries;
  entries.reserve(kvs.size());
  for (const auto& [key, value] : kvs) {
    auto k = fbb.CreateString(key);
    auto v = fbb.CreateString(value);
    auto start = fbb.StartTable();
    fbb.AddOffset(slot::kKeyValueKey, k);
    fbb.AddOffset(slot::kKeyValueValue, v);
    entries.push_back(end_table(fbb, start));
  }
  return fbb.CreateVector(entries);
}

AnyOffset build_int_type(Builder& fbb, int bit_width, bool is_signed) {
  auto start = fbb.StartTable();
  fbb.AddElement<int32_t>(slot::kIntBitWidth, bit_width, 0);
  fbb.AddElement<uint8_t>(slot::kIntIsSigned, is_signed ? 1 : 0, 0);
  return end_table(fbb, start);
}

// Builds the type table of `t` (strings and vectors first: flatbuffers tables cannot nest their
// construction) and says which member of the Type union it is.
std::pair<FbType, AnyOffset> build_type(Builder& fbb, const DataType& t) {
  auto unit_table = [&](Slot s, int16_t unit) {
    auto start = fbb.StartTable();
    fbb.AddElement<int16_t>(s, unit, 0);
    return end_table(fbb, start);
  };
  switch (t.kind) {
    case TypeKind::Null: return {FbType::Null, empty_table(fbb)};
    case TypeKind::Bool: return {FbType::Bool, empty_table(fbb)};
    case TypeKind::Int: return {FbType::Int, build_int_type(fbb, t.bit_width, t.is_signed)};
    case TypeKind::Float:
      return {FbType::FloatingPoint,
              unit_table(slot::kFloatingPointPrecision, static_cast<int16_t>(t.float_precision))};
    case TypeKind::Decimal: {
      auto start = fbb.StartTable();
      fbb.AddElement<int32_t>(slot::kDecimalPrecision, t.precision, 0);
      fbb.AddElement<int32_t>(slot::kDecimalScale, t.scale, 0);
      fbb.AddElement<int32_t>(slot::kDecimalBitWidth, t.bit_width, 128);
      return {FbType::Decimal, end_table(fbb, start)};
    }
    case TypeKind::Utf8: return {FbType::Utf8, empty_table(fbb)};
    case TypeKind::LargeUtf8: return {FbType::LargeUtf8, empty_table(fbb)};
    case TypeKind::Binary: return {FbType::Binary, empty_table(fbb)};
    case TypeKind::LargeBinary: return {FbType::LargeBinary, empty_table(fbb)};
    case TypeKind::FixedSizeBinary: {
      auto start = fbb.StartTable();
      fbb.AddElement<int32_t>(slot::kFixedSizeBinaryByteWidth, t.fixed_size, 0);
      return {FbType::FixedSizeBinary, end_table(fbb, start)};
    }
    case TypeKind::Date: return {FbType::Date, unit_table(slot::kDateUnit, static_cast<int16_t>(t.date_unit))};
    case TypeKind::Time: {
      auto start = fbb.StartTable();
      fbb.AddElement<int16_t>(slot::kTimeUnit, static_cast<int16_t>(t.time_unit), 1);
      fbb.AddElement<int32_t>(slot::kTimeBitWidth, t.bit_width, 32);
      return {FbType::Time, end_table(fbb, start)};
    }
    case TypeKind::Timestamp: {
      flatbuffers::Offset<flatbuffers::String> tz;
      if (!t.timezone.empty()) tz = fbb.CreateString(t.timezone);
      auto start = fbb.StartTable();
      fbb.AddElement<int16_t>(slot::kTimestampUnit, static_cast<int16_t>(t.time_unit), 0);
      if (!t.timezone.empty()) fbb.AddOffset(slot::kTimestampTimezone, tz);
      return {FbType::Timestamp, end_table(fbb, start)};
    }
    case TypeKind::Duration:
      return {FbType::Duration, unit_table(slot::kDurationUnit, static_cast<int16_t>(t.time_unit))};
    case TypeKind::Interval:
      return {FbType::Interval, unit_table(slot::kIntervalUnit, static_cast<int16_t>(t.interval_unit))};
    case TypeKind::List: return {FbType::List, empty_table(fbb)};
    case TypeKind::LargeList: return {FbType::LargeList, empty_table(fbb)};
    case TypeKind::FixedSizeList: {
      auto start = fbb.StartTable();
      fbb.AddElement<int32_t>(slot::kFixedSizeListListSize, t.fixed_size, 0);
      return {FbType::FixedSizeList, end_table(fbb, start)};
    }
    case TypeKind::Struct: return {FbType::Struct, empty_table(fbb)};
    case TypeKind::Map: {
      auto start = fbb.StartTable();
      fbb.AddElement<uint8_t>(slot::kMapKeysSorted, t.keys_sorted ? 1 : 0, 0);
      return {FbType::Map, end_table(fbb, start)};
    }
    case TypeKind::SparseUnion:
    case TypeKind::DenseUnion: {
      auto ids = fbb.CreateVector(t.union_type_ids);
      auto start = fbb.StartTable();
      fbb.AddElement<int16_t>(slot::kUnionMode,
                              t.kind == TypeKind::DenseUnion ? kUnionModeDense : kUnionModeSparse, 0);
      fbb.AddOffset(slot::kUnionTypeIds, ids);
      return {FbType::Union, end_table(fbb, start)};
    }
  }
  return {FbType::Null, empty_table(fbb)};
}

AnyOffset build_field(Builder& fbb, const Field& field) {
  // A dictionary-encoded field is described by its value type; the indices go in `dictionary`.
  const DataType& type = field.value_type();
  std::vector<AnyOffset> children;
  children.reserve(type.children.size());
  for (const Field& child : type.children) children.push_back(build_field(fbb, child));
  auto children_vector = fbb.CreateVector(children);
  auto [type_id, type_table] = build_type(fbb, type);
  AnyOffset dictionary;
  if (field.dictionary) {
    auto index_type = build_int_type(fbb, field.type.bit_width, field.type.is_signed);
    auto start = fbb.StartTable();
    fbb.AddElement<int64_t>(slot::kDictionaryEncodingId, field.dictionary_id, 0);
    fbb.AddOffset(slot::kDictionaryEncodingIndexType, index_type);
    fbb.AddElement<uint8_t>(slot::kDictionaryEncodingIsOrdered, field.dictionary_ordered ? 1 : 0, 0);
    fbb.AddElement<int16_t>(slot::kDictionaryEncodingKind, 0, 0);  // DenseArray
    dictionary = end_table(fbb, start);
  }
  const KeyValueMetadata& metadata = field.metadata;
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<void>>> metadata_vector;
  if (!metadata.empty()) metadata_vector = build_key_values(fbb, metadata);
  auto name = fbb.CreateString(field.name);

  auto start = fbb.StartTable();
  fbb.AddOffset(slot::kFieldName, name);
  fbb.AddElement<uint8_t>(slot::kFieldNullable, field.nullable ? 1 : 0, 0);
  fbb.AddElement<uint8_t>(slot::kFieldTypeType, static_cast<uint8_t>(type_id), 0);
  fbb.AddOffset(slot::kFieldType, type_table);
  if (field.dictionary) fbb.AddOffset(slot::kFieldDictionary, dictionary);
  fbb.AddOffset(slot::kFieldChildren, children_vector);
  if (!metadata.empty()) fbb.AddOffset(slot::kFieldCustomMetadata, metadata_vector);
  return end_table(fbb, start);
}

void finish_message(Builder& fbb, FbMessageHeader header_type, AnyOffset header, int64_t body_length) {
  auto start = fbb.StartTable();
  fbb.AddElement<int16_t>(slot::kMessageVersion, kMetadataVersionV5, 0);
  fbb.AddElement<uint8_t>(slot::kMessageHeaderType, static_cast<uint8_t>(header_type), 0);
  fbb.AddOffset(slot::kMessageHeader, header);
  fbb.AddElement<int64_t>(slot::kMessageBodyLength, body_length, 0);
  fbb.Finish(end_table(fbb, start));
}

// Appends one encapsulated message: continuation marker, metadata length, the flatbuffer padded
// so the body starts 8-byte aligned, then the body.
void append_message(std::string& out, const Builder& fbb, const Body* body) {
  const int64_t metadata_size = fbb.GetSize();
  const int64_t padded = pad8(8 + metadata_size) - 8;
  out.reserve(out.size() + 8 + static_cast<size_t>(padded) + static_cast<size_t>(body ? body->length() : 0));
  append_raw(out, kContinuation);
  append_raw(out, static_cast<int32_t>(padded));
  out.append(reinterpret_cast<const char*>(fbb.GetBufferPointer()), static_cast<size_t>(metadata_size));
  out.append(static_cast<size_t>(padded - metadata_size), '\0');
  if (body) body->append_to(out);
}

Builder new_builder() {
  Builder fbb(1024);
  fbb.ForceDefaults(true);  // write every field, so readers never depend on default values
  return fbb;
}

AnyOffset build_record_batch(Builder& fbb, const Body& body, int64_t length) {
  auto nodes = fbb.CreateVectorOfStructs(body.nodes().data(), body.nodes().size());
  auto buffers = fbb.CreateVectorOfStructs(body.layout().data(), body.layout().size());
  auto start = fbb.StartTable();
  fbb.AddElement<int64_t>(slot::kRecordBatchLength, length, 0);
  fbb.AddOffset(slot::kRecordBatchNodes, nodes);
  fbb.AddOffset(slot::kRecordBatchBuffers, buffers);
  return end_table(fbb, start);
}

// Finds the dictionary-encoded fields under `field` and the dictionary arrays `a` carries for them.
void collect_dictionaries(const ArrowArray& a, const Field& field,
                          std::vector<std::pair<const Field*, const ArrowArray*>>& out) {
  if (field.dictionary) {
    out.emplace_back(&field, a.dictionary);
    return;  // index types have no children, and dictionaries hold no dictionaries
  }
  const auto& children = field.type.children;
  for (size_t i = 0; i < children.size(); ++i) collect_dictionaries(*a.children[i], children[i], out);
}

}  // namespace

Result<IpcStreamWriter> IpcStreamWriter::start(const ArrowSchema& schema, std::string& out) {
  auto parsed = parse_schema(schema);
  if (!parsed) return fail(parsed.error());

  Builder fbb = new_builder();
  std::vector<AnyOffset> fields;
  fields.reserve(parsed->fields.size());
  for (const Field& field : parsed->fields) fields.push_back(build_field(fbb, field));
  auto fields_vector = fbb.CreateVector(fields);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<void>>> metadata;
  if (!parsed->metadata.empty()) metadata = build_key_values(fbb, parsed->metadata);
  auto start = fbb.StartTable();
  fbb.AddElement<int16_t>(slot::kSchemaEndianness, kEndiannessLittle, 0);
  fbb.AddOffset(slot::kSchemaFields, fields_vector);
  if (!parsed->metadata.empty()) fbb.AddOffset(slot::kSchemaCustomMetadata, metadata);
  auto schema_table = end_table(fbb, start);
  finish_message(fbb, FbMessageHeader::Schema, schema_table, 0);
  append_message(out, fbb, nullptr);
  return IpcStreamWriter(out, std::move(*parsed));
}

Result<void> IpcStreamWriter::write_batch(const ArrowArray& batch) {
  if (finished_) return fail(ErrorKind::Internal, "write_batch after finish on an IPC stream");
  if (auto ok = validate_batch(batch, schema_); !ok) return ok;

  // Plan everything first (this is where malformed data is found), so that a failure appends nothing.
  std::vector<std::pair<const Field*, const ArrowArray*>> dictionaries;
  for (size_t i = 0; i < schema_.fields.size(); ++i) {
    collect_dictionaries(*batch.children[i], schema_.fields[i], dictionaries);
  }
  std::vector<std::pair<int64_t, std::string>> changed_dictionaries;
  for (const auto& [field, dictionary] : dictionaries) {
    Body body;
    if (auto ok = encode_array(body, *dictionary, *field->dictionary, 0, dictionary->length,
                               field->name + " (dictionary)");
        !ok) {
      return ok;
    }
    Builder fbb = new_builder();
    auto data = build_record_batch(fbb, body, dictionary->length);
    auto start = fbb.StartTable();
    fbb.AddElement<int64_t>(slot::kDictionaryBatchId, field->dictionary_id, 0);
    fbb.AddOffset(slot::kDictionaryBatchData, data);
    fbb.AddElement<uint8_t>(slot::kDictionaryBatchIsDelta, 0, 0);
    finish_message(fbb, FbMessageHeader::DictionaryBatch, end_table(fbb, start), body.length());
    std::string message;
    append_message(message, fbb, &body);
    auto sent = sent_dictionaries_.find(field->dictionary_id);
    if (sent == sent_dictionaries_.end() || sent->second != message) {
      changed_dictionaries.emplace_back(field->dictionary_id, std::move(message));
    }
  }

  Body body;
  for (size_t i = 0; i < schema_.fields.size(); ++i) {
    const Field& field = schema_.fields[i];
    if (auto ok = encode_array(body, *batch.children[i], field, batch.offset, batch.length, field.name); !ok) {
      return ok;
    }
  }
  Builder fbb = new_builder();
  auto record_batch = build_record_batch(fbb, body, batch.length);
  finish_message(fbb, FbMessageHeader::RecordBatch, record_batch, body.length());

  for (auto& [id, message] : changed_dictionaries) {
    out_->append(message);
    sent_dictionaries_[id] = std::move(message);
  }
  append_message(*out_, fbb, &body);
  return {};
}

void IpcStreamWriter::finish() {
  if (finished_) return;
  append_raw(*out_, kContinuation);
  append_raw(*out_, int32_t{0});
  finished_ = true;
}

Result<std::string> write_ipc_stream(const Table& table) { return write_table(table, Encoding::ArrowIpc); }

}  // namespace sightline::arrow
