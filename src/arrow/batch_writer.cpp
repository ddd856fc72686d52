#include "arrow/batch_writer.h"

#include "arrow/csv_writer.h"
#include "arrow/ipc_writer.h"
#include "arrow/json_writer.h"

namespace sightline::arrow {
namespace {

class IpcBatchWriter final : public BatchWriter {
 public:
  explicit IpcBatchWriter(IpcStreamWriter writer) : writer_(std::move(writer)) {}
  Result<void> write_batch(const ArrowArray& batch) override { return writer_.write_batch(batch); }
  void finish() override { writer_.finish(); }

 private:
  IpcStreamWriter writer_;
};

}  // namespace

Result<std::unique_ptr<BatchWriter>> start_batch_writer(Encoding encoding, const ArrowSchema& schema, std::string& out) {
  switch (encoding) {
    case Encoding::Csv: return start_csv_writer(schema, out);
    case Encoding::Json: return start_json_writer(schema, out);
    case Encoding::ArrowIpc: break;
  }
  auto writer = IpcStreamWriter::start(schema, out);
  if (!writer) return fail(writer.error());
  return std::unique_ptr<BatchWriter>(std::make_unique<IpcBatchWriter>(std::move(*writer)));
}

Result<std::string> write_table(const Table& table, Encoding encoding) {
  if (!table.schema.valid()) return fail(ErrorKind::Internal, "the result has no schema");
  std::string out;
  out.reserve(256 + static_cast<size_t>(table.num_rows) * 16);
  auto writer = start_batch_writer(encoding, *table.schema, out);
  if (!writer) return fail(writer.error());
  for (const OwnedArray& batch : table.batches)
    if (auto ok = (*writer)->write_batch(*batch); !ok) return fail(ok.error());
  (*writer)->finish();
  return out;
}

}  // namespace sightline::arrow
