// One interface over the answer encodings (Arrow IPC stream, JSON rows, CSV), so an answer can be
// written batch by batch as the engine produces it: a download of millions of rows never needs
// all of them in memory at once.
//
//   std::string out;
//   auto writer = start_batch_writer(Encoding::Csv, schema, out);   // appends the header
//   for (...) { writer->write_batch(batch); spill(out); out.clear(); }
//   writer->finish();                                               // appends the end
//
// The bytes are the same as the whole-table writers produce (write_csv, write_json_rows,
// write_ipc_stream) for the same batches. Not thread-safe; `out` must outlive the writer.
#pragma once

#include <memory>
#include <string>

#include "arrow/c_data.h"
#include "core/error.h"

namespace sightline::arrow {

enum class Encoding { ArrowIpc, Json, Csv };

class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  // Appends `batch` (a struct array matching the schema) to the output. On error the output may
  // hold part of the batch: the answer is then unusable and must not be sent.
  virtual Result<void> write_batch(const ArrowArray& batch) = 0;
  // Appends what ends the answer; later calls do nothing.
  virtual void finish() = 0;
};

// Parses `schema` and appends what starts the answer (Arrow's Schema message, JSON's column list,
// CSV's header row) to `out`. Fails (ErrorKind::Internal) on a schema it cannot write.
Result<std::unique_ptr<BatchWriter>> start_batch_writer(Encoding encoding, const ArrowSchema& schema, std::string& out);

// A whole table in `encoding`: the writer's start, every batch, its end.
Result<std::string> write_table(const Table& table, Encoding encoding);

}  // namespace sightline::arrow
