#include "arrow/csv_writer.h"

#include <string_view>
#include <vector>

#include "arrow/text_values.h"
#include "arrow/types.h"

namespace sightline::arrow {
namespace {

bool starts_like_formula(std::string_view text) {
  if (text.empty()) return false;
  switch (text[0]) {
    case '=':
    case '+':
    case '-':
    case '@':
    case '\t':
    case '\r': return true;
    default: return false;
  }
}

bool needs_quotes(std::string_view text) {
  for (char c : text) {
    if (c == ',' || c == '"' || c == '\r' || c == '\n') return true;
  }
  return false;
}

// How a column's cells are written.
enum class CellKind {
  Plain,   // numbers, dates, times, booleans, intervals: never need quotes or neutralizing
  Text,    // strings and binary: neutralized, quoted when needed, "" when empty
  Nested,  // lists, structs, maps, unions: JSON text, quoted when needed
};

CellKind cell_kind(const Field& field) {
  if (is_text_like(field)) return CellKind::Text;
  switch (field.value_type().kind) {
    case TypeKind::List:
    case TypeKind::LargeList:
    case TypeKind::FixedSizeList:
    case TypeKind::Struct:
    case TypeKind::Map:
    case TypeKind::SparseUnion:
    case TypeKind::DenseUnion: return CellKind::Nested;
    default: return CellKind::Plain;
  }
}

// Appends one field: neutralized if it is text that a spreadsheet would run as a formula, quoted
// if it holds a separator, quote or line break (or is an empty text value, to tell it from null).
void append_field(std::string& out, std::string_view text, bool is_text) {
  const bool prefix = is_text && starts_like_formula(text);
  const bool quote = needs_quotes(text) || (is_text && text.empty());
  if (quote) out.push_back('"');
  if (prefix) out.push_back('\'');
  if (quote) {
    size_t start = 0;
    for (size_t q = text.find('"'); q != std::string_view::npos; q = text.find('"', q + 1)) {
      out.append(text.data() + start, q + 1 - start);
      out.push_back('"');
      start = q + 1;
    }
    out.append(text.data() + start, text.size() - start);
    out.push_back('"');
  } else {
    out.append(text);
  }
}

class CsvBatchWriter final : public BatchWriter {
 public:
  CsvBatchWriter(Schema schema, std::string& out) : schema_(std::move(schema)), out_(&out) {
    for (const Field& field : schema_.fields) kinds_.push_back(cell_kind(field));
  }

  void write_header() {
    const auto& fields = schema_.fields;
    for (size_t c = 0; c < fields.size(); ++c) {
      if (c) out_->push_back(',');
      cell_.clear();
      append_valid_utf8(cell_, fields[c].name);
      append_field(*out_, cell_, true);
    }
    *out_ += "\r\n";
  }

  Result<void> write_batch(const ArrowArray& batch) override {
    if (auto ok = validate_batch(batch, schema_); !ok) return fail(ok.error());
    const auto& fields = schema_.fields;
    std::string& out = *out_;
    for (int64_t r = 0; r < batch.length; ++r) {
      for (size_t c = 0; c < fields.size(); ++c) {
        if (c) out.push_back(',');
        const ArrowArray& column = *batch.children[c];
        const int64_t index = batch.offset + r;
        if (is_null(column, fields[c], index)) continue;
        if (kinds_[c] == CellKind::Plain) {
          render_.append(out, column, fields[c], index, TextStyle::Csv);
          continue;
        }
        cell_.clear();
        render_.append(cell_, column, fields[c], index, TextStyle::Csv);
        append_field(out, cell_, kinds_[c] == CellKind::Text);
      }
      out += "\r\n";
    }
    if (render_.error()) return fail(*render_.error());
    return {};
  }

  void finish() override {}

 private:
  Schema schema_;
  std::string* out_;
  std::vector<CellKind> kinds_;
  std::string cell_;
  ValueRenderer render_;
};

}  // namespace

Result<std::unique_ptr<BatchWriter>> start_csv_writer(const ArrowSchema& schema, std::string& out) {
  auto parsed = parse_schema(schema);
  if (!parsed) return fail(parsed.error());
  auto writer = std::make_unique<CsvBatchWriter>(std::move(*parsed), out);
  writer->write_header();
  return std::unique_ptr<BatchWriter>(std::move(writer));
}

Result<std::string> write_csv(const Table& table) { return write_table(table, Encoding::Csv); }

}  // namespace sightline::arrow
