// Arrow IPC streaming format writer: turns results in the Arrow C data interface into the bytes
// of an Arrow IPC stream ("application/vnd.apache.arrow.stream"), which apache-arrow JS (and any
// Arrow implementation) reads.
//
//   auto bytes = write_ipc_stream(output.table);   // Schema, dictionaries, batches, end marker
//
// or incrementally, to send batches as they come:
//
//   std::string out;
//   auto writer = IpcStreamWriter::start(*schema, out);    // appends the Schema message
//   for (...) writer->write_batch(*batch);                 // appends dictionaries + a batch
//   writer->finish();                                      // appends the end-of-stream marker
//
// The stream: encapsulated messages (0xFFFFFFFF continuation, int32 metadata length, a
// flatbuffer Message padded to 8 bytes, then the body), metadata version V5, little-endian,
// uncompressed bodies whose buffers start at 8-byte-aligned offsets, and the end-of-stream
// marker 0xFFFFFFFF 0x00000000.
//
// Supported formats: every type DuckDB exports (b, c C s S i I l L, e f g, d:P,S[,32|64|128|256],
// u U z Z w:N, tdD tdm, tt[smun], ts[smun]:TZ, tD[smun], tiM tiD tin, +l +L +w:N +s +m,
// +us:/+ud: unions, n) and dictionary-encoded columns (also inside nested types). View types
// (vu, vz, +vl, +vL), run-end encoded arrays (+r) and dictionaries nested inside dictionaries are
// rejected with an ErrorKind::Internal error naming the column.
//
// Arrays may be sliced (offset != 0, or a length shorter than the buffers): bitmaps are shifted,
// offsets re-based, and only the referenced range of each buffer is written. Buffers are copied
// once, straight from the source arrays, when no shifting is needed. A null_count of -1 is
// computed from the validity bitmap; a missing validity bitmap means no nulls.
//
// Dictionaries: a DictionaryBatch (isDelta = false) is written before the first record batch
// that uses it, and again before any later batch whose dictionary differs from the one last sent.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "arrow/c_data.h"
#include "arrow/types.h"
#include "core/error.h"

namespace sightline::arrow {

// Encodes a whole table as one IPC stream: the Schema message, dictionary batches, record
// batches and the end-of-stream marker. A table with no batches gives Schema + end marker.
Result<std::string> write_ipc_stream(const Table& table);

class IpcStreamWriter {
 public:
  // Parses `schema` (a struct whose children are the columns) and appends the Schema message to
  // `out`. `out` must outlive the writer; the schema is copied, so it may be released afterwards.
  static Result<IpcStreamWriter> start(const ArrowSchema& schema, std::string& out);

  IpcStreamWriter(IpcStreamWriter&&) noexcept = default;
  IpcStreamWriter& operator=(IpcStreamWriter&&) noexcept = default;
  IpcStreamWriter(const IpcStreamWriter&) = delete;
  IpcStreamWriter& operator=(const IpcStreamWriter&) = delete;

  // Appends `batch` (a struct array matching the schema) as a RecordBatch message, preceded by
  // DictionaryBatch messages for dictionaries not sent yet or changed since. On error nothing is
  // appended for this batch. Fails after finish().
  Result<void> write_batch(const ArrowArray& batch);

  // Appends the end-of-stream marker; later calls do nothing.
  void finish();

  const Schema& schema() const { return schema_; }

 private:
  IpcStreamWriter(std::string& out, Schema schema) : out_(&out), schema_(std::move(schema)) {}

  std::string* out_;
  Schema schema_;
  std::map<int64_t, std::string> sent_dictionaries_;  // dictionary id -> DictionaryBatch message last sent
  bool finished_ = false;
};

}  // namespace sightline::arrow
