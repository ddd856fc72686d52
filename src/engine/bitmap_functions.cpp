#include "engine/bitmap_functions.h"

#include <roaring/roaring.h>

#include <cstring>
#include <memory>
#include <string>

namespace sightline::engine {
namespace {

// An aggregate state: one bitmap, made on first use.
struct BitmapState {
  roaring_bitmap_t* bitmap;
};

BitmapState& state_of(duckdb_aggregate_state s) {
  return *reinterpret_cast<BitmapState*>(s);
}

roaring_bitmap_t* bitmap_of(BitmapState& state) {
  if (!state.bitmap) state.bitmap = roaring_bitmap_create();
  return state.bitmap;
}

idx_t state_size(duckdb_function_info) {
  return sizeof(BitmapState);
}

void init(duckdb_function_info, duckdb_aggregate_state state) {
  state_of(state).bitmap = nullptr;
}

void destroy(duckdb_aggregate_state* states, idx_t count) {
  for (idx_t i = 0; i < count; ++i) {
    auto& s = state_of(states[i]);
    if (s.bitmap) roaring_bitmap_free(s.bitmap);
    s.bitmap = nullptr;
  }
}

void combine(duckdb_function_info, duckdb_aggregate_state* source, duckdb_aggregate_state* target, idx_t count) {
  for (idx_t i = 0; i < count; ++i) {
    auto& from = state_of(source[i]);
    if (!from.bitmap) continue;
    roaring_bitmap_or_inplace(bitmap_of(state_of(target[i])), from.bitmap);
  }
}

bool valid(uint64_t* validity, idx_t row) {
  return !validity || duckdb_validity_row_is_valid(validity, row);
}

// sightline_bitmap(code): adds each non-NULL code to its group's bitmap.
void add_codes(duckdb_function_info, duckdb_data_chunk input, duckdb_aggregate_state* states) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector codes = duckdb_data_chunk_get_vector(input, 0);
  const auto* data = static_cast<const uint32_t*>(duckdb_vector_get_data(codes));
  uint64_t* validity = duckdb_vector_get_validity(codes);
  for (idx_t r = 0; r < rows; ++r)
    if (valid(validity, r)) roaring_bitmap_add(bitmap_of(state_of(states[r])), data[r]);
}

void finalize_blob(duckdb_function_info info, duckdb_aggregate_state* source, duckdb_vector result, idx_t count, idx_t offset) {
  std::string buffer;
  for (idx_t i = 0; i < count; ++i) {
    roaring_bitmap_t* b = bitmap_of(state_of(source[i]));
    roaring_bitmap_run_optimize(b);
    buffer.resize(roaring_bitmap_portable_size_in_bytes(b));
    size_t written = roaring_bitmap_portable_serialize(b, buffer.data());
    if (written != buffer.size()) {
      duckdb_aggregate_function_set_error(info, "a distinct-value bitmap could not be serialized");
      return;
    }
    duckdb_vector_assign_string_element_len(result, offset + i, buffer.data(), buffer.size());
  }
}

// sightline_bitmap_count(bitmap): unions each group's bitmaps.
void add_bitmaps(duckdb_function_info info, duckdb_data_chunk input, duckdb_aggregate_state* states) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector blobs = duckdb_data_chunk_get_vector(input, 0);
  auto* data = static_cast<duckdb_string_t*>(duckdb_vector_get_data(blobs));
  uint64_t* validity = duckdb_vector_get_validity(blobs);
  for (idx_t r = 0; r < rows; ++r) {
    if (!valid(validity, r)) continue;
    const char* bytes = duckdb_string_t_data(&data[r]);
    const uint32_t length = duckdb_string_t_length(data[r]);
    std::unique_ptr<roaring_bitmap_t, decltype(&roaring_bitmap_free)> b(roaring_bitmap_portable_deserialize_safe(bytes, length),
                                                                        roaring_bitmap_free);
    if (!b) {
      duckdb_aggregate_function_set_error(info, "a distinct-value bitmap is malformed");
      return;
    }
    roaring_bitmap_or_inplace(bitmap_of(state_of(states[r])), b.get());
  }
}

void finalize_count(duckdb_function_info, duckdb_aggregate_state* source, duckdb_vector result, idx_t count, idx_t offset) {
  auto* out = static_cast<int64_t*>(duckdb_vector_get_data(result));
  for (idx_t i = 0; i < count; ++i) {
    auto& s = state_of(source[i]);
    out[offset + i] = s.bitmap ? static_cast<int64_t>(roaring_bitmap_get_cardinality(s.bitmap)) : 0;
  }
}

// Owns the C handles made while registering.
struct Function {
  duckdb_aggregate_function f = duckdb_create_aggregate_function();
  ~Function() { duckdb_destroy_aggregate_function(&f); }
};
struct Type {
  duckdb_logical_type t;
  explicit Type(duckdb_type id) : t(duckdb_create_logical_type(id)) {}
  ~Type() { duckdb_destroy_logical_type(&t); }
};

Result<void> register_one(Connection& conn, const char* name, duckdb_type input, duckdb_type output, duckdb_aggregate_update_t update,
                          duckdb_aggregate_finalize_t finalize) {
  Function fn;
  Type in(input), out(output);
  duckdb_aggregate_function_set_name(fn.f, name);
  duckdb_aggregate_function_add_parameter(fn.f, in.t);
  duckdb_aggregate_function_set_return_type(fn.f, out.t);
  duckdb_aggregate_function_set_functions(fn.f, state_size, init, update, combine, finalize);
  duckdb_aggregate_function_set_destructor(fn.f, destroy);
  if (duckdb_register_aggregate_function(conn.handle(), fn.f) == DuckDBError)
    return fail(ErrorKind::Internal, std::string("could not register the engine function ") + name);
  return {};
}

}  // namespace

Result<void> register_bitmap_functions(Connection& conn) {
  if (auto r = register_one(conn, "sightline_bitmap", DUCKDB_TYPE_UINTEGER, DUCKDB_TYPE_BLOB, add_codes, finalize_blob); !r) return r;
  return register_one(conn, "sightline_bitmap_count", DUCKDB_TYPE_BLOB, DUCKDB_TYPE_BIGINT, add_bitmaps, finalize_count);
}

}  // namespace sightline::engine
