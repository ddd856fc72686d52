// Reads an Arrow IPC stream (the "application/vnd.apache.arrow.stream" format) sent by a
// client, for rows received over HTTP (engine/ingest_writer.h), and hands it on through the
// Arrow C stream interface.
//
//   auto decoded = read_ipc_stream(body);        // InvalidInput with a precise message
//   decoded->field_names();                      // the columns, in order
//   ArrowArrayStream stream;
//   decoded->export_stream(&stream);             // e.g. to duckdb_arrow_scan; `decoded` must outlive it
//
// The body is hostile: every flatbuffer offset, buffer range, offset buffer, dictionary index
// and string is checked before anything reads it, so a consumer that trusts Arrow data (DuckDB)
// never reads out of bounds or sees invalid UTF-8. Read: top-level columns of null, integer
// (8 to 64 bits, signed or not), float (32, 64), bool, utf8 and large utf8, date (day and
// millisecond), timestamp (any unit, with or without a time zone) and decimal (128 bits) types,
// and dictionary-encoded columns of those. Refused with a message naming the column: nested,
// binary, interval, view and other types; compressed bodies; delta dictionaries; big-endian
// data. Not thread-safe; movable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "arrow/c_data.h"
#include "core/error.h"

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
extern "C" {
struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};
}
#endif  // ARROW_C_STREAM_INTERFACE

namespace sightline::arrow {

struct DecodedIpc;  // the decoded stream's parts (ipc_reader.cpp)

class IpcStream {
 public:
  explicit IpcStream(std::unique_ptr<DecodedIpc> decoded);
  ~IpcStream();
  IpcStream(IpcStream&&) noexcept;
  IpcStream& operator=(IpcStream&&) noexcept;

  std::vector<std::string> field_names() const;
  int64_t rows() const;
  // Fills `out` with a stream of the batches (each a struct array of the columns). The stream
  // refers to this object's memory: keep it alive until the stream is released.
  void export_stream(ArrowArrayStream* out);

 private:
  std::unique_ptr<DecodedIpc> decoded_;
};

Result<IpcStream> read_ipc_stream(std::string_view bytes);

}  // namespace sightline::arrow
