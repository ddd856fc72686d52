#include "engine/result_rows.h"

#include "arrow/json_writer.h"

namespace sightline::engine {
using nlohmann::json;

Result<json> rows_of(const QueryOutput& out) {
  auto text = arrow::write_json_rows(out.table);
  if (!text) return fail(text.error());
  json parsed = json::parse(*text, nullptr, false);
  if (!parsed.is_object() || !parsed["rows"].is_array()) return fail(ErrorKind::Internal, "a result could not be read back");
  return parsed["rows"];
}

std::optional<int64_t> as_count(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

}  // namespace sightline::engine
