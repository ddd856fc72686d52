#include "arrow/json_writer.h"

#include "arrow/text_values.h"
#include "arrow/types.h"

namespace sightline::arrow {

namespace {

class JsonBatchWriter final : public BatchWriter {
 public:
  JsonBatchWriter(Schema schema, std::string& out) : schema_(std::move(schema)), out_(&out) {}

  void write_header() {
    const auto& fields = schema_.fields;
    std::string& out = *out_;
    out += "{\"columns\":[";
    for (size_t c = 0; c < fields.size(); ++c) {
      if (c) out.push_back(',');
      out += "{\"name\":";
      append_json_string(out, fields[c].name);
      out += ",\"type\":";
      append_json_string(out, type_name(fields[c]));
      out.push_back('}');
    }
    out += "],\"rows\":[";
  }

  Result<void> write_batch(const ArrowArray& batch) override {
    if (finished_) return fail(ErrorKind::Internal, "a batch after the end of the answer");
    if (auto ok = validate_batch(batch, schema_); !ok) return fail(ok.error());
    const auto& fields = schema_.fields;
    std::string& out = *out_;
    for (int64_t r = 0; r < batch.length; ++r) {
      if (!first_row_) out.push_back(',');
      first_row_ = false;
      out.push_back('[');
      for (size_t c = 0; c < fields.size(); ++c) {
        if (c) out.push_back(',');
        render_.append(out, *batch.children[c], fields[c], batch.offset + r, TextStyle::Json);
      }
      out.push_back(']');
    }
    if (render_.error()) return fail(*render_.error());
    return {};
  }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    *out_ += "]}";
  }

 private:
  Schema schema_;
  std::string* out_;
  ValueRenderer render_;
  bool first_row_ = true;
  bool finished_ = false;
};

}  // namespace

Result<std::unique_ptr<BatchWriter>> start_json_writer(const ArrowSchema& schema, std::string& out) {
  auto parsed = parse_schema(schema);
  if (!parsed) return fail(parsed.error());
  auto writer = std::make_unique<JsonBatchWriter>(std::move(*parsed), out);
  writer->write_header();
  return std::unique_ptr<BatchWriter>(std::move(writer));
}

Result<std::string> write_json_rows(const Table& table) { return write_table(table, Encoding::Json); }

}  // namespace sightline::arrow
