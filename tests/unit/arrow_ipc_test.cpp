// The Arrow IPC stream writer: message framing, alignment, metadata, dictionaries, slicing and
// errors, checked by parsing the stream here. (Values are decoded by an independent reader in
// tests/js/arrow_conformance.mjs.)
#include "arrow/ipc_writer.h"

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include "duckdb_fixture.h"

#include <cstring>
#include <string_view>
#include <vector>

#include "engine/duckdb.h"

namespace sightline::arrow {
namespace {

// --- a small reader of the stream, enough to check structure --------------------------------

struct FieldNode {
  int64_t length;
  int64_t null_count;
};
struct BufferSpec {
  int64_t offset;
  int64_t length;
};

constexpr uint8_t kSchemaHeader = 1, kDictionaryBatchHeader = 2, kRecordBatchHeader = 3;

struct Message {
  int16_t version = 0;
  uint8_t header_type = 0;
  const flatbuffers::Table* header = nullptr;
  int64_t body_length = 0;
  std::string_view body;
};

// The RecordBatch table of a RecordBatch message, or the `data` of a DictionaryBatch.
const flatbuffers::Table* record_batch_of(const Message& m) {
  if (m.header_type == kRecordBatchHeader) return m.header;
  return m.header->GetPointer<const flatbuffers::Table*>(6);
}
int64_t batch_length(const Message& m) { return record_batch_of(m)->GetField<int64_t>(4, -1); }
std::vector<FieldNode> nodes_of(const Message& m) {
  auto* v = record_batch_of(m)->GetPointer<const flatbuffers::Vector<const FieldNode*>*>(6);
  std::vector<FieldNode> out;
  for (auto* n : *v) out.push_back(*n);
  return out;
}
std::vector<BufferSpec> buffers_of(const Message& m) {
  auto* v = record_batch_of(m)->GetPointer<const flatbuffers::Vector<const BufferSpec*>*>(8);
  std::vector<BufferSpec> out;
  for (auto* b : *v) out.push_back(*b);
  return out;
}
std::string_view buffer_bytes(const Message& m, size_t index) {
  BufferSpec b = buffers_of(m).at(index);
  return m.body.substr(static_cast<size_t>(b.offset), static_cast<size_t>(b.length));
}

// Parses every message, checking the framing as it goes (gtest failures on violations).
// The messages point into `bytes`, which must outlive them (a temporary would not).
std::vector<Message> parse_stream(std::string&& bytes) = delete;
std::vector<Message> parse_stream(const std::string& bytes) {
  std::vector<Message> messages;
  size_t pos = 0;
  auto read_u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + at, 4);
    return v;
  };
  while (true) {
    EXPECT_EQ(pos % 8, 0u) << "messages start 8-byte aligned";
    if (pos + 8 > bytes.size()) {
      ADD_FAILURE() << "stream ends without the end-of-stream marker";
      return messages;
    }
    EXPECT_EQ(read_u32(pos), 0xFFFFFFFFu) << "continuation marker at " << pos;
    const uint32_t metadata_length = read_u32(pos + 4);
    if (metadata_length == 0) {
      EXPECT_EQ(pos + 8, bytes.size()) << "nothing after the end-of-stream marker";
      return messages;
    }
    EXPECT_EQ((8 + metadata_length) % 8, 0u) << "metadata padded so the body is aligned";
    const auto* root = reinterpret_cast<const uint8_t*>(bytes.data() + pos + 8);
    flatbuffers::Verifier verifier(root, metadata_length);
    Message m;
    const auto* table = flatbuffers::GetRoot<flatbuffers::Table>(root);
    EXPECT_TRUE(table->VerifyTableStart(verifier));
    m.version = table->GetField<int16_t>(4, -1);
    m.header_type = table->GetField<uint8_t>(6, 0);
    m.header = table->GetPointer<const flatbuffers::Table*>(8);
    m.body_length = table->GetField<int64_t>(10, -1);
    EXPECT_EQ(m.version, 4) << "metadata version V5";
    EXPECT_GE(m.body_length, 0);
    EXPECT_EQ(m.body_length % 8, 0) << "body padded to 8 bytes";
    const size_t body_start = pos + 8 + metadata_length;
    EXPECT_LE(body_start + static_cast<size_t>(m.body_length), bytes.size());
    m.body = std::string_view(bytes).substr(body_start, static_cast<size_t>(m.body_length));
    if (m.header_type == kRecordBatchHeader || m.header_type == kDictionaryBatchHeader) {
      for (const BufferSpec& b : buffers_of(m)) {
        EXPECT_EQ(b.offset % 8, 0) << "buffers start 8-byte aligned in the body";
        EXPECT_LE(b.offset + b.length, m.body_length) << "buffers lie inside the body";
      }
    }
    messages.push_back(m);
    pos = body_start + static_cast<size_t>(m.body_length);
  }
}

// Where two streams first differ, as "message M buffer B byte K" (empty when equal), so a
// mismatch does not print whole binary streams.
std::string first_difference(const std::string& a, const std::string& b) {
  if (a == b) return "";
  auto ma = parse_stream(a), mb = parse_stream(b);
  if (ma.size() != mb.size()) return "message counts " + std::to_string(ma.size()) + " vs " + std::to_string(mb.size());
  for (size_t m = 0; m < ma.size(); ++m) {
    if (ma[m].header_type != mb[m].header_type) return "message " + std::to_string(m) + " types differ";
    if (ma[m].header_type == 1) continue;
    auto na = nodes_of(ma[m]), nb = nodes_of(mb[m]);
    for (size_t n = 0; n < std::min(na.size(), nb.size()); ++n) {
      if (na[n].length != nb[n].length || na[n].null_count != nb[n].null_count) {
        return "message " + std::to_string(m) + " node " + std::to_string(n) + ": " + std::to_string(na[n].length) +
               "/" + std::to_string(na[n].null_count) + " vs " + std::to_string(nb[n].length) + "/" +
               std::to_string(nb[n].null_count);
      }
    }
    auto ba = buffers_of(ma[m]), bb = buffers_of(mb[m]);
    for (size_t k = 0; k < std::min(ba.size(), bb.size()); ++k) {
      std::string_view x = buffer_bytes(ma[m], k), y = buffer_bytes(mb[m], k);
      if (x.size() != y.size()) {
        return "message " + std::to_string(m) + " buffer " + std::to_string(k) + " sizes " + std::to_string(x.size()) +
               " vs " + std::to_string(y.size());
      }
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] != y[i]) {
          return "message " + std::to_string(m) + " buffer " + std::to_string(k) + " byte " + std::to_string(i) +
                 ": " + std::to_string(static_cast<uint8_t>(x[i])) + " vs " + std::to_string(static_cast<uint8_t>(y[i]));
        }
      }
    }
  }
  return "the streams differ outside the buffers";
}

std::vector<const Message*> of_type(const std::vector<Message>& messages, uint8_t header_type) {
  std::vector<const Message*> out;
  for (const Message& m : messages) {
    if (m.header_type == header_type) out.push_back(&m);
  }
  return out;
}

const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::Table>>* schema_fields(const Message& schema) {
  return schema.header->GetPointer<const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::Table>>*>(6);
}
std::string field_name(const flatbuffers::Table* field) {
  return field->GetPointer<const flatbuffers::String*>(4)->str();
}
uint8_t field_type_id(const flatbuffers::Table* field) { return field->GetField<uint8_t>(8, 0); }
const flatbuffers::Table* field_type(const flatbuffers::Table* field) {
  return field->GetPointer<const flatbuffers::Table*>(10);
}

// Zeroes the value bytes (or bits) under null slots of fixed-width arrays, where DuckDB leaves
// whatever was in memory, so two encodings of the same logical data compare byte for byte.
void zero_null_values(const ArrowArray& a, const Field& field) {
  for (size_t i = 0; i < field.type.children.size(); ++i) zero_null_values(*a.children[i], field.type.children[i]);
  const int bits = fixed_bit_width(field.type);
  const auto* validity = static_cast<const uint8_t*>(a.buffers[0]);
  if (bits == 0 || !validity || field.type.kind == TypeKind::Null) return;
  auto* values = static_cast<uint8_t*>(const_cast<void*>(a.buffers[1]));
  for (int64_t i = 0; i < a.offset + a.length; ++i) {
    if (get_bit(validity, i)) continue;
    if (bits == 1) values[i / 8] &= static_cast<uint8_t>(~(1u << (i % 8)));
    else std::memset(values + i * (bits / 8), 0, static_cast<size_t>(bits / 8));
  }
}

void zero_null_values(Table& table) {
  auto schema = parse_schema(*table.schema);
  ASSERT_TRUE(schema.has_value());
  for (const auto& batch : table.batches) {
    for (size_t c = 0; c < schema->fields.size(); ++c) zero_null_values(*batch->children[c], schema->fields[c]);
  }
}

// --- fixtures -------------------------------------------------------------------------------

class ArrowIpc : public testing::DuckDBTest {
 protected:
  std::string ipc(const Table& table) {
    auto bytes = write_ipc_stream(table);
    EXPECT_TRUE(bytes.has_value()) << (bytes ? "" : bytes.error().message);
    return bytes ? *bytes : std::string();
  }
};

constexpr const char* kAllTypes = R"(
SELECT * FROM (VALUES
  (true, 1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UTINYINT, 6::USMALLINT, 7::UINTEGER, 8::UBIGINT,
   1.5::FLOAT, 2.5::DOUBLE, 12.34::DECIMAL(10,2), 'text', 'bin'::BLOB, DATE '2024-03-01', TIME '12:00:00',
   TIMESTAMP '2024-03-01 12:00:00', TIMESTAMP_S '2024-03-01', TIMESTAMP_MS '2024-03-01', TIMESTAMP_NS '2024-03-01',
   TIMESTAMPTZ '2024-03-01 12:00:00+00', INTERVAL 1 DAY, [1, 2], {'a': 1}, MAP {'k': 1}, [1, 2]::INTEGER[2]),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(b, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, dec, s, bl, d, tm, ts, ts_s, ts_ms, ts_ns, tstz, iv,
    l, st, m, arr))";

TEST_F(ArrowIpc, EveryTypeIsFramedAndAligned) {
  auto out = query(kAllTypes);
  std::string bytes = ipc(out.table);
  auto messages = parse_stream(bytes);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].header_type, kSchemaHeader);
  EXPECT_EQ(messages[0].body_length, 0);
  EXPECT_EQ(messages[1].header_type, kRecordBatchHeader);
  EXPECT_EQ(batch_length(messages[1]), 2);
  auto nodes = nodes_of(messages[1]);
  // One node per column plus the children of nested columns, depth first; every top-level
  // column has one null.
  auto* fields = schema_fields(messages[0]);
  ASSERT_EQ(fields->size(), 26u);
  EXPECT_EQ(field_name(fields->Get(0)), "b");
  EXPECT_EQ(nodes[0].length, 2);
  EXPECT_EQ(nodes[0].null_count, 1);
}

TEST_F(ArrowIpc, SchemaCarriesTypeParameters) {
  auto out = query("SELECT 12.34::DECIMAL(10,2) AS dec, TIMESTAMPTZ '2024-03-01 00:00:00+00' AS tz, "
                   "TIMESTAMP '2024-03-01' AS naive, 1::UTINYINT AS u8, TIME '01:00:00' AS t, INTERVAL 1 DAY AS iv");
  const std::string bytes = ipc(out.table);  // the messages point into it
  auto messages = parse_stream(bytes);
  ASSERT_FALSE(messages.empty());
  auto* fields = schema_fields(messages[0]);
  ASSERT_EQ(fields->size(), 6u);

  const auto* dec = fields->Get(0);
  EXPECT_EQ(field_type_id(dec), 7);  // Decimal
  EXPECT_EQ(field_type(dec)->GetField<int32_t>(4, 0), 10);
  EXPECT_EQ(field_type(dec)->GetField<int32_t>(6, 0), 2);
  EXPECT_EQ(field_type(dec)->GetField<int32_t>(8, 0), 128);
  EXPECT_TRUE(dec->GetField<uint8_t>(6, 0)) << "nullable";

  const auto* tz = fields->Get(1);
  EXPECT_EQ(field_type_id(tz), 10);                         // Timestamp
  EXPECT_EQ(field_type(tz)->GetField<int16_t>(4, -1), 2);  // MICROSECOND
  const auto* zone = field_type(tz)->GetPointer<const flatbuffers::String*>(6);
  ASSERT_NE(zone, nullptr);
  EXPECT_FALSE(zone->str().empty());

  const auto* naive = fields->Get(2);
  EXPECT_EQ(field_type(naive)->GetPointer<const flatbuffers::String*>(6), nullptr) << "no time zone";

  const auto* u8 = fields->Get(3);
  EXPECT_EQ(field_type_id(u8), 2);  // Int
  EXPECT_EQ(field_type(u8)->GetField<int32_t>(4, 0), 8);
  EXPECT_EQ(field_type(u8)->GetField<uint8_t>(6, 1), 0) << "unsigned";

  const auto* t = fields->Get(4);
  EXPECT_EQ(field_type_id(t), 9);  // Time
  EXPECT_EQ(field_type(t)->GetField<int32_t>(6, 0), 64);

  EXPECT_EQ(field_type_id(fields->Get(5)), 11);  // Interval
  EXPECT_EQ(field_type(fields->Get(5))->GetField<int16_t>(4, -1), 2);  // MONTH_DAY_NANO
}

TEST_F(ArrowIpc, ValuesAreCopiedVerbatim) {
  auto out = query("SELECT range::BIGINT AS i, 'v' || range AS s FROM range(5)");
  const std::string bytes = ipc(out.table);  // the messages point into it
  auto messages = parse_stream(bytes);
  ASSERT_EQ(messages.size(), 2u);
  const Message& batch = messages[1];
  // i: validity (empty: no nulls), values; s: validity, offsets, data.
  ASSERT_EQ(buffers_of(batch).size(), 5u);
  EXPECT_EQ(buffers_of(batch)[0].length, 0);
  std::string_view values = buffer_bytes(batch, 1);
  ASSERT_EQ(values.size(), 5 * sizeof(int64_t));
  for (int64_t k = 0; k < 5; ++k) {
    int64_t v;
    std::memcpy(&v, values.data() + k * 8, 8);
    EXPECT_EQ(v, k);
  }
  EXPECT_EQ(buffer_bytes(batch, 4), "v0v1v2v3v4");
}

TEST_F(ArrowIpc, MultiBatchResultsKeepEveryRow) {
  auto out = query("SELECT range AS i, CASE WHEN range % 3 = 0 THEN NULL ELSE 'x' END AS s FROM range(5000)");
  ASSERT_GT(out.table.batches.size(), 1u);
  const std::string bytes = ipc(out.table);  // the messages point into it
  auto messages = parse_stream(bytes);
  auto batches = of_type(messages, kRecordBatchHeader);
  ASSERT_EQ(batches.size(), out.table.batches.size());
  int64_t rows = 0, nulls = 0;
  for (const Message* m : batches) {
    rows += batch_length(*m);
    nulls += nodes_of(*m)[1].null_count;
  }
  EXPECT_EQ(rows, 5000);
  EXPECT_EQ(nulls, 1667);  // multiples of 3 in [0, 5000)
}

TEST_F(ArrowIpc, EnumSendsItsDictionaryOnce) {
  ASSERT_TRUE(conn_->execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')").has_value());
  auto out = query("SELECT CASE WHEN range % 5 = 0 THEN NULL ELSE (['sad', 'ok', 'happy'])[range % 3 + 1] END::mood AS m "
                   "FROM range(5000)");
  ASSERT_GT(out.table.batches.size(), 1u);
  const std::string bytes = ipc(out.table);  // the messages point into it
  auto messages = parse_stream(bytes);
  ASSERT_GE(messages.size(), 3u);
  EXPECT_EQ(messages[1].header_type, kDictionaryBatchHeader) << "the dictionary comes before the first batch";
  auto dictionaries = of_type(messages, kDictionaryBatchHeader);
  ASSERT_EQ(dictionaries.size(), 1u) << "an unchanged dictionary is not sent again";
  const Message& dict = *dictionaries[0];
  EXPECT_EQ(dict.header->GetField<int64_t>(4, -1), 0);  // id
  EXPECT_EQ(dict.header->GetField<uint8_t>(8, 1), 0);   // isDelta = false
  EXPECT_EQ(batch_length(dict), 3);
  EXPECT_EQ(buffer_bytes(dict, 2), "sadokhappy");
  // The field is dictionary-encoded: type Utf8, dictionary { id 0, indexType uint8 }.
  const auto* field = schema_fields(messages[0])->Get(0);
  EXPECT_EQ(field_type_id(field), 5);  // Utf8: the value type
  const auto* encoding = field->GetPointer<const flatbuffers::Table*>(12);
  ASSERT_NE(encoding, nullptr);
  EXPECT_EQ(encoding->GetField<int64_t>(4, -1), 0);
  const auto* index_type = encoding->GetPointer<const flatbuffers::Table*>(6);
  ASSERT_NE(index_type, nullptr);
  EXPECT_EQ(index_type->GetField<int32_t>(4, 0), 8);
}

TEST_F(ArrowIpc, ChangedDictionaryIsSentAgainBeforeItsBatch) {
  auto first = query("SELECT 'a'::ENUM('a', 'b') AS e");
  auto second = query("SELECT 'y'::ENUM('x', 'y', 'z') AS e");
  auto third = query("SELECT 'z'::ENUM('x', 'y', 'z') AS e");
  Table table = std::move(first.table);
  table.batches.push_back(std::move(second.table.batches.at(0)));
  table.batches.push_back(std::move(third.table.batches.at(0)));
  table.num_rows = 3;
  const std::string bytes = ipc(table);  // the messages point into it
  auto messages = parse_stream(bytes);
  std::vector<uint8_t> order;
  for (const Message& m : messages) order.push_back(m.header_type);
  // Schema, dict(a,b), batch, dict(x,y,z), batch, batch: the third batch's dictionary is the same.
  EXPECT_EQ(order, (std::vector<uint8_t>{kSchemaHeader, kDictionaryBatchHeader, kRecordBatchHeader,
                                         kDictionaryBatchHeader, kRecordBatchHeader, kRecordBatchHeader}));
  EXPECT_EQ(buffer_bytes(messages[1], 2), "ab");
  EXPECT_EQ(buffer_bytes(messages[3], 2), "xyz");
  EXPECT_EQ(messages[3].header->GetField<uint8_t>(8, 1), 0) << "a replacement, not a delta";
}

TEST_F(ArrowIpc, SlicedResultWritesOnlyTheKeptRows) {
  const char* sql =
      "SELECT range AS i, CASE WHEN range % 7 = 0 THEN NULL ELSE 'row ' || range END AS s, "
      "CASE WHEN range % 4 = 0 THEN NULL ELSE [range] END AS l, {'a': range} AS st FROM range(5000)";
  auto full = query(sql);
  auto sliced = query(sql, 1000);
  ASSERT_TRUE(sliced.truncated);
  const std::string bytes = ipc(sliced.table);  // the messages point into it
  auto messages = parse_stream(bytes);
  auto batches = of_type(messages, kRecordBatchHeader);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batch_length(*batches[0]), 1000);
  auto nodes = nodes_of(*batches[0]);
  // i, s, l, l.item, st, st.a
  ASSERT_EQ(nodes.size(), 6u);
  EXPECT_EQ(nodes[1].length, 1000);
  EXPECT_EQ(nodes[1].null_count, 143) << "recomputed: multiples of 7 in [0, 1000)";
  EXPECT_EQ(nodes[2].null_count, 250);
  EXPECT_EQ(nodes[3].length, 750) << "list children cover only the kept lists";
  EXPECT_EQ(nodes[5].length, 1000) << "struct children are cut to the struct's length";
  // The same rows written from an unsliced query give the same bytes.
  auto limited = query(std::string(sql) + " LIMIT 1000");
  zero_null_values(sliced.table);
  zero_null_values(limited.table);
  EXPECT_EQ(first_difference(ipc(sliced.table), ipc(limited.table)), "");
}

// Moves every column of the first batch forward by `shift` rows.
void shift_columns(Table& table, int64_t shift) {
  auto& batch = const_cast<ArrowArray&>(*table.batches.at(0));
  for (int64_t i = 0; i < batch.n_children; ++i) {
    batch.children[i]->offset += shift;
    batch.children[i]->length -= shift;
    batch.children[i]->null_count = -1;
  }
  batch.length -= shift;
  table.num_rows -= shift;
}

// Compared byte for byte after zero_null_values, so only value bytes under nulls (undefined)
// are ignored. Struct children under null structs are not zeroed (their validity says valid), so
// structs here are never null; null structs at offsets are covered by tests/js/arrow_conformance.mjs.
constexpr const char* kOffsetQuery = R"(
SELECT range AS id,
       CASE WHEN range % 3 = 0 THEN NULL ELSE range % 2 = 1 END AS b,
       CASE WHEN range % 5 = 0 THEN NULL ELSE 'v' || range END AS s,
       CASE WHEN range % 6 = 0 THEN NULL ELSE [range, NULL, range + 1] END AS l,
       {'a': CASE WHEN range % 7 = 0 THEN NULL ELSE range END, 'b': 's' || range} AS st,
       CASE WHEN range % 4 = 0 THEN NULL ELSE range * 10 END AS n,
       CASE WHEN range % 9 = 0 THEN NULL ELSE CAST(range AS DECIMAL(9,2)) END AS dec,
       [range, range]::BIGINT[2] AS arr
FROM range(300))";

TEST_F(ArrowIpc, ColumnOffsetsAreShiftedAndRebased) {
  for (int64_t shift : {1, 3, 8, 13, 64, 77}) {
    auto shifted = query(kOffsetQuery);
    shift_columns(shifted.table, shift);
    auto expected = query(std::string(kOffsetQuery) + " OFFSET " + std::to_string(shift));
    zero_null_values(shifted.table);
    zero_null_values(expected.table);
    EXPECT_EQ(first_difference(ipc(shifted.table), ipc(expected.table)), "") << "shift " << shift;
  }
}

TEST_F(ArrowIpc, BatchOffsetAppliesToEveryColumn) {
  for (int64_t shift : {5, 16, 100}) {
    auto shifted = query(kOffsetQuery);
    auto& batch = const_cast<ArrowArray&>(*shifted.table.batches.at(0));
    batch.offset = shift;
    batch.length -= shift;
    shifted.table.num_rows -= shift;
    auto expected = query(std::string(kOffsetQuery) + " OFFSET " + std::to_string(shift));
    zero_null_values(shifted.table);
    zero_null_values(expected.table);
    EXPECT_EQ(first_difference(ipc(shifted.table), ipc(expected.table)), "") << "shift " << shift;
  }
}

TEST_F(ArrowIpc, EmptyResultIsSchemaAndEndMarker) {
  auto out = query("SELECT 1 AS a, 'x' AS b, 'a'::ENUM('a') AS e WHERE false");
  ASSERT_TRUE(out.table.batches.empty());
  std::string bytes = ipc(out.table);
  auto messages = parse_stream(bytes);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].header_type, kSchemaHeader);
  EXPECT_EQ(schema_fields(messages[0])->size(), 3u);
  EXPECT_EQ(bytes.substr(bytes.size() - 8), std::string("\xFF\xFF\xFF\xFF\0\0\0\0", 8));
}

TEST_F(ArrowIpc, IncrementalWriterMatchesWholeTable) {
  auto out = query("SELECT range AS i FROM range(3000)");
  std::string bytes;
  auto writer = IpcStreamWriter::start(*out.table.schema, bytes);
  ASSERT_TRUE(writer.has_value()) << writer.error().message;
  for (const auto& batch : out.table.batches) ASSERT_TRUE(writer->write_batch(*batch).has_value());
  writer->finish();
  writer->finish();  // idempotent
  EXPECT_TRUE(bytes == ipc(out.table));
  auto late = writer->write_batch(*out.table.batches[0]);
  ASSERT_FALSE(late.has_value());
}

TEST_F(ArrowIpc, UnsupportedFormatsAreClearErrors) {
  ASSERT_TRUE(conn_->execute("SET arrow_output_version = '1.4'").has_value());
  ASSERT_TRUE(conn_->execute("SET produce_arrow_string_view = true").has_value());
  auto out = query("SELECT 'x' AS view_column");
  ASSERT_EQ(std::string(out.table.schema->children[0]->format), "vu");
  auto bytes = write_ipc_stream(out.table);
  ASSERT_FALSE(bytes.has_value());
  EXPECT_EQ(bytes.error().kind, ErrorKind::Internal);
  EXPECT_NE(bytes.error().message.find("view_column"), std::string::npos) << bytes.error().message;
  EXPECT_NE(bytes.error().message.find("'vu'"), std::string::npos) << bytes.error().message;
}

// --- hand-built arrays ------------------------------------------------------------------------

ArrowSchema leaf_schema(const char* format, const char* name) {
  ArrowSchema s{};
  s.format = format;
  s.name = name;
  s.flags = ARROW_FLAG_NULLABLE;
  return s;
}

TEST(ArrowIpcHandBuilt, BooleanBitmapsAreShiftedAcrossWords) {
  // 200 booleans: value bit = (i % 3 == 0), validity bit = (i % 5 != 0); offset 5, length 190.
  std::vector<uint8_t> values(32, 0), validity(32, 0);
  for (int i = 0; i < 200; ++i) {
    if (i % 3 == 0) values[i / 8] |= static_cast<uint8_t>(1 << (i % 8));
    if (i % 5 != 0) validity[i / 8] |= static_cast<uint8_t>(1 << (i % 8));
  }
  ArrowSchema column_schema = leaf_schema("b", "flag");
  ArrowSchema* columns[] = {&column_schema};
  ArrowSchema schema = leaf_schema("+s", "");
  schema.n_children = 1;
  schema.children = columns;

  const void* column_buffers[] = {validity.data(), values.data()};
  ArrowArray column{};
  column.length = 195;
  column.offset = 5;
  column.null_count = -1;
  column.n_buffers = 2;
  column.buffers = column_buffers;
  ArrowArray* column_list[] = {&column};
  const void* batch_buffers[] = {nullptr};
  ArrowArray batch{};
  batch.length = 190;
  batch.n_buffers = 1;
  batch.buffers = batch_buffers;
  batch.n_children = 1;
  batch.children = column_list;

  std::string bytes;
  auto writer = IpcStreamWriter::start(schema, bytes);
  ASSERT_TRUE(writer.has_value()) << writer.error().message;
  ASSERT_TRUE(writer->write_batch(batch).has_value());
  writer->finish();
  auto messages = parse_stream(bytes);
  ASSERT_EQ(messages.size(), 2u);
  auto nodes = nodes_of(messages[1]);
  int expected_nulls = 0;
  for (int i = 5; i < 195; ++i) expected_nulls += (i % 5 == 0);
  EXPECT_EQ(nodes[0].null_count, expected_nulls);
  std::string_view valid_bits = buffer_bytes(messages[1], 0);
  std::string_view value_bits = buffer_bytes(messages[1], 1);
  ASSERT_EQ(valid_bits.size(), 24u);
  ASSERT_EQ(value_bits.size(), 24u);
  for (int j = 0; j < 190; ++j) {
    int i = j + 5;
    EXPECT_EQ((value_bits[j / 8] >> (j % 8)) & 1, i % 3 == 0 ? 1 : 0) << j;
    EXPECT_EQ((valid_bits[j / 8] >> (j % 8)) & 1, i % 5 != 0 ? 1 : 0) << j;
  }
  EXPECT_EQ(static_cast<uint8_t>(value_bits[23]) >> 6, 0) << "bits past the length are zero";
}

TEST(ArrowIpcHandBuilt, MissingValidityMeansNoNulls) {
  int32_t values[] = {1, 2, 3};
  ArrowSchema column_schema = leaf_schema("i", "n");
  ArrowSchema* columns[] = {&column_schema};
  ArrowSchema schema = leaf_schema("+s", "");
  schema.n_children = 1;
  schema.children = columns;
  const void* column_buffers[] = {nullptr, values};
  ArrowArray column{};
  column.length = 3;
  column.null_count = -1;
  column.n_buffers = 2;
  column.buffers = column_buffers;
  ArrowArray* column_list[] = {&column};
  const void* batch_buffers[] = {nullptr};
  ArrowArray batch{};
  batch.length = 3;
  batch.n_buffers = 1;
  batch.buffers = batch_buffers;
  batch.n_children = 1;
  batch.children = column_list;

  std::string bytes;
  auto writer = IpcStreamWriter::start(schema, bytes);
  ASSERT_TRUE(writer.has_value());
  ASSERT_TRUE(writer->write_batch(batch).has_value());
  bytes += std::string("\xFF\xFF\xFF\xFF\0\0\0\0", 8);  // the end-of-stream marker
  auto messages = parse_stream(bytes);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(nodes_of(messages[1])[0].null_count, 0);
  EXPECT_EQ(buffers_of(messages[1])[0].length, 0);
}

TEST(ArrowIpcHandBuilt, MalformedArraysFailWithoutWriting) {
  int32_t values[] = {1, 2, 3};
  ArrowSchema column_schema = leaf_schema("u", "text");
  ArrowSchema* columns[] = {&column_schema};
  ArrowSchema schema = leaf_schema("+s", "");
  schema.n_children = 1;
  schema.children = columns;
  std::string bytes;
  auto writer = IpcStreamWriter::start(schema, bytes);
  ASSERT_TRUE(writer.has_value());
  const size_t schema_size = bytes.size();

  // A utf8 column with two buffers instead of three.
  const void* column_buffers[] = {nullptr, values};
  ArrowArray column{};
  column.length = 2;
  column.n_buffers = 2;
  column.buffers = column_buffers;
  ArrowArray* column_list[] = {&column};
  const void* batch_buffers[] = {nullptr};
  ArrowArray batch{};
  batch.length = 2;
  batch.n_buffers = 1;
  batch.buffers = batch_buffers;
  batch.n_children = 1;
  batch.children = column_list;
  auto wrong_buffers = writer->write_batch(batch);
  ASSERT_FALSE(wrong_buffers.has_value());
  EXPECT_NE(wrong_buffers.error().message.find("text"), std::string::npos) << wrong_buffers.error().message;

  // Offsets that run backwards.
  int32_t offsets[] = {3, 5, 2};
  const char* data = "hello";
  const void* string_buffers[] = {nullptr, offsets, data};
  column.n_buffers = 3;
  column.buffers = string_buffers;
  EXPECT_FALSE(writer->write_batch(batch).has_value());

  // A column shorter than the batch.
  offsets[0] = 0;
  offsets[2] = 5;
  column.length = 1;
  EXPECT_FALSE(writer->write_batch(batch).has_value());
  EXPECT_EQ(bytes.size(), schema_size) << "failed batches append nothing";

  column.length = 2;
  EXPECT_TRUE(writer->write_batch(batch).has_value());
}

TEST(ArrowIpcHandBuilt, SchemaMustBeAStruct) {
  ArrowSchema schema = leaf_schema("i", "x");
  std::string bytes;
  auto writer = IpcStreamWriter::start(schema, bytes);
  ASSERT_FALSE(writer.has_value());
  EXPECT_TRUE(bytes.empty());
}

}  // namespace
}  // namespace sightline::arrow
