#include "arrow/json_writer.h"

#include "arrow/text_values.h"
#include "arrow/types.h"

namespace sightline::arrow {

Result<std::string> write_json_rows(const Table& table) {
  if (!table.schema.valid()) return fail(ErrorKind::Internal, "the result has no schema");
  auto schema = parse_schema(*table.schema);
  if (!schema) return fail(schema.error());
  const auto& fields = schema->fields;

  std::string out;
  out.reserve(256 + static_cast<size_t>(table.num_rows) * (2 + fields.size() * 8));
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

  ValueRenderer render;
  bool first_row = true;
  for (const OwnedArray& owned : table.batches) {
    const ArrowArray& batch = *owned;
    if (auto ok = validate_batch(batch, *schema); !ok) return fail(ok.error());
    for (int64_t r = 0; r < batch.length; ++r) {
      if (!first_row) out.push_back(',');
      first_row = false;
      out.push_back('[');
      for (size_t c = 0; c < fields.size(); ++c) {
        if (c) out.push_back(',');
        render.append(out, *batch.children[c], fields[c], batch.offset + r, TextStyle::Json);
      }
      out.push_back(']');
    }
    if (render.error()) return fail(*render.error());
  }
  out += "]}";
  return out;
}

}  // namespace sightline::arrow
