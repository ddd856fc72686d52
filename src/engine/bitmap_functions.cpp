#include "engine/bitmap_functions.h"

#include "engine/code_set.h"

#include <roaring/roaring.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace sightline::engine {
namespace {

// An aggregate state: one set of codes, made on first use (engine/code_set.h: unions serialized
// bitmaps without deserializing each into a Roaring bitmap first).
struct BitmapState {
  CodeSet* codes;
};

BitmapState& state_of(duckdb_aggregate_state s) {
  return *reinterpret_cast<BitmapState*>(s);
}

CodeSet& codes_of(BitmapState& state) {
  if (!state.codes) state.codes = new CodeSet();
  return *state.codes;
}

idx_t state_size(duckdb_function_info) {
  return sizeof(BitmapState);
}

void init(duckdb_function_info, duckdb_aggregate_state state) {
  state_of(state).codes = nullptr;
}

void destroy(duckdb_aggregate_state* states, idx_t count) {
  for (idx_t i = 0; i < count; ++i) {
    auto& s = state_of(states[i]);
    delete s.codes;
    s.codes = nullptr;
  }
}

void combine(duckdb_function_info, duckdb_aggregate_state* source, duckdb_aggregate_state* target, idx_t count) {
  for (idx_t i = 0; i < count; ++i) {
    auto& from = state_of(source[i]);
    if (from.codes) codes_of(state_of(target[i])).merge(*from.codes);
  }
}

bool valid(uint64_t* validity, idx_t row) {
  return !validity || duckdb_validity_row_is_valid(validity, row);
}

// sightline_bitmap(code): adds each non-NULL code to its group's set.
void add_codes(duckdb_function_info, duckdb_data_chunk input, duckdb_aggregate_state* states) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector codes = duckdb_data_chunk_get_vector(input, 0);
  const auto* data = static_cast<const uint32_t*>(duckdb_vector_get_data(codes));
  uint64_t* validity = duckdb_vector_get_validity(codes);
  for (idx_t r = 0; r < rows; ++r)
    if (valid(validity, r)) codes_of(state_of(states[r])).add(data[r]);
}

// The set as a Roaring bitmap with runs where they are smaller (what rollups keep: written once,
// read by every distinct count over them).
void finalize_blob(duckdb_function_info info, duckdb_aggregate_state* source, duckdb_vector result, idx_t count, idx_t offset) {
  std::string buffer;
  for (idx_t i = 0; i < count; ++i) {
    const std::string plain = codes_of(state_of(source[i])).portable();
    std::unique_ptr<roaring_bitmap_t, decltype(&roaring_bitmap_free)> b(
        roaring_bitmap_portable_deserialize_safe(plain.data(), plain.size()), roaring_bitmap_free);
    if (!b) {
      duckdb_aggregate_function_set_error(info, "a distinct-value bitmap could not be serialized");
      return;
    }
    roaring_bitmap_run_optimize(b.get());
    buffer.resize(roaring_bitmap_portable_size_in_bytes(b.get()));
    size_t written = roaring_bitmap_portable_serialize(b.get(), buffer.data());
    if (written != buffer.size()) {
      duckdb_aggregate_function_set_error(info, "a distinct-value bitmap could not be serialized");
      return;
    }
    duckdb_vector_assign_string_element_len(result, offset + i, buffer.data(), buffer.size());
  }
}

// sightline_bitmap_union's result: the set as it is (array and bitset containers). It runs at
// query time too (the days around a range's whole months), where packing runs would cost more
// than the few bytes they save.
void finalize_union(duckdb_function_info, duckdb_aggregate_state* source, duckdb_vector result, idx_t count, idx_t offset) {
  for (idx_t i = 0; i < count; ++i) {
    const std::string bytes = codes_of(state_of(source[i])).portable();
    duckdb_vector_assign_string_element_len(result, offset + i, bytes.data(), bytes.size());
  }
}

// sightline_bitmap_count(bitmap) and sightline_bitmap_union(bitmap): unions each group's bitmaps.
void add_bitmaps(duckdb_function_info info, duckdb_data_chunk input, duckdb_aggregate_state* states) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector blobs = duckdb_data_chunk_get_vector(input, 0);
  auto* data = static_cast<duckdb_string_t*>(duckdb_vector_get_data(blobs));
  uint64_t* validity = duckdb_vector_get_validity(blobs);
  for (idx_t r = 0; r < rows; ++r) {
    if (!valid(validity, r)) continue;
    if (!codes_of(state_of(states[r])).add_portable(duckdb_string_t_data(&data[r]), duckdb_string_t_length(data[r]))) {
      duckdb_aggregate_function_set_error(info, "a distinct-value bitmap is malformed");
      return;
    }
  }
}

void finalize_count(duckdb_function_info, duckdb_aggregate_state* source, duckdb_vector result, idx_t count, idx_t offset) {
  auto* out = static_cast<int64_t*>(duckdb_vector_get_data(result));
  for (idx_t i = 0; i < count; ++i) {
    auto& s = state_of(source[i]);
    out[offset + i] = s.codes ? s.codes->count() : 0;
  }
}

// sightline_hll_count(hash UBIGINT) -> BIGINT: a HyperLogLog estimate of how many distinct
// hashes a group holds (2^12 one-byte registers, made on first use: about 1.6 % standard error).
// The planner hands it DuckDB's hash() of the values, NULLs left out.
constexpr int kHllBits = 12;
constexpr size_t kHllRegisters = size_t{1} << kHllBits;

struct HllState {
  uint8_t* registers;
};

HllState& hll_of(duckdb_aggregate_state s) {
  return *reinterpret_cast<HllState*>(s);
}

uint8_t* registers_of(HllState& state) {
  if (!state.registers) state.registers = static_cast<uint8_t*>(std::calloc(kHllRegisters, 1));
  return state.registers;
}

idx_t hll_size(duckdb_function_info) {
  return sizeof(HllState);
}

void hll_init(duckdb_function_info, duckdb_aggregate_state state) {
  hll_of(state).registers = nullptr;
}

void hll_destroy(duckdb_aggregate_state* states, idx_t count) {
  for (idx_t i = 0; i < count; ++i) {
    std::free(hll_of(states[i]).registers);
    hll_of(states[i]).registers = nullptr;
  }
}

void hll_combine(duckdb_function_info, duckdb_aggregate_state* source, duckdb_aggregate_state* target, idx_t count) {
  for (idx_t i = 0; i < count; ++i) {
    const uint8_t* from = hll_of(source[i]).registers;
    if (!from) continue;
    uint8_t* into = registers_of(hll_of(target[i]));
    for (size_t j = 0; j < kHllRegisters; ++j) into[j] = std::max(into[j], from[j]);
  }
}

// Mixes the bits of a hash (splitmix64's finalizer), so that the register index and the rank
// are uniform whatever hash the engine gives.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

void hll_add(duckdb_function_info, duckdb_data_chunk input, duckdb_aggregate_state* states) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector hashes = duckdb_data_chunk_get_vector(input, 0);
  const auto* data = static_cast<const uint64_t*>(duckdb_vector_get_data(hashes));
  uint64_t* validity = duckdb_vector_get_validity(hashes);
  for (idx_t r = 0; r < rows; ++r) {
    if (!valid(validity, r)) continue;
    const uint64_t h = mix(data[r]);
    const size_t index = h >> (64 - kHllBits);
    const uint64_t rest = h << kHllBits;  // the remaining 52 bits, at the top
    const uint8_t rank = rest == 0 ? static_cast<uint8_t>(64 - kHllBits + 1) : static_cast<uint8_t>(__builtin_clzll(rest) + 1);
    uint8_t* regs = registers_of(hll_of(states[r]));
    if (rank > regs[index]) regs[index] = rank;
  }
}

void hll_finalize(duckdb_function_info, duckdb_aggregate_state* source, duckdb_vector result, idx_t count, idx_t offset) {
  auto* out = static_cast<int64_t*>(duckdb_vector_get_data(result));
  const double m = static_cast<double>(kHllRegisters);
  for (idx_t i = 0; i < count; ++i) {
    const uint8_t* regs = hll_of(source[i]).registers;
    if (!regs) {
      out[offset + i] = 0;
      continue;
    }
    double sum = 0;
    size_t zeros = 0;
    for (size_t j = 0; j < kHllRegisters; ++j) {
      sum += std::ldexp(1.0, -regs[j]);
      zeros += regs[j] == 0;
    }
    double estimate = 0.7213 / (1 + 1.079 / m) * m * m / sum;
    // Few values: linear counting over the empty registers is the better estimate.
    if (estimate <= 2.5 * m && zeros > 0) estimate = m * std::log(m / static_cast<double>(zeros));
    out[offset + i] = static_cast<int64_t>(std::llround(estimate));
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

// The functions that manage an aggregate's state.
struct StateFunctions {
  duckdb_aggregate_state_size size;
  duckdb_aggregate_init_t init;
  duckdb_aggregate_combine_t combine;
  duckdb_aggregate_destroy_t destroy;
};
constexpr StateFunctions kBitmapState{state_size, init, combine, destroy};
constexpr StateFunctions kHllState{hll_size, hll_init, hll_combine, hll_destroy};

Result<void> register_one(Connection& conn, const char* name, duckdb_type input, duckdb_type output, const StateFunctions& state,
                          duckdb_aggregate_update_t update, duckdb_aggregate_finalize_t finalize) {
  Function fn;
  Type in(input), out(output);
  duckdb_aggregate_function_set_name(fn.f, name);
  duckdb_aggregate_function_add_parameter(fn.f, in.t);
  duckdb_aggregate_function_set_return_type(fn.f, out.t);
  duckdb_aggregate_function_set_functions(fn.f, state.size, state.init, update, state.combine, finalize);
  duckdb_aggregate_function_set_destructor(fn.f, state.destroy);
  if (duckdb_register_aggregate_function(conn.handle(), fn.f) == DuckDBError)
    return fail(ErrorKind::Internal, std::string("could not register the engine function ") + name);
  return {};
}

}  // namespace

Result<void> register_bitmap_functions(Connection& conn) {
  if (auto r = register_one(conn, "sightline_bitmap", DUCKDB_TYPE_UINTEGER, DUCKDB_TYPE_BLOB, kBitmapState, add_codes, finalize_blob); !r)
    return r;
  if (auto r = register_one(conn, "sightline_bitmap_count", DUCKDB_TYPE_BLOB, DUCKDB_TYPE_BIGINT, kBitmapState, add_bitmaps, finalize_count);
      !r)
    return r;
  if (auto r = register_one(conn, "sightline_bitmap_union", DUCKDB_TYPE_BLOB, DUCKDB_TYPE_BLOB, kBitmapState, add_bitmaps, finalize_union); !r)
    return r;
  return register_one(conn, "sightline_hll_count", DUCKDB_TYPE_UBIGINT, DUCKDB_TYPE_BIGINT, kHllState, hll_add, hll_finalize);
}

}  // namespace sightline::engine
