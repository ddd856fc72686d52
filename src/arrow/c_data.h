// The Arrow C data interface (the ABI defined by the Arrow specification), plus owning wrappers.
//
//   OwnedSchema schema;            // empty
//   produce(schema.out());         // a producer fills it
//   use(*schema);                  // released automatically when `schema` goes away
//
// Not thread-safe; movable, not copyable.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

extern "C" {
struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};
}
#endif  // ARROW_C_DATA_INTERFACE

namespace sightline::arrow {

// Owns a C-interface struct and calls its release callback exactly once.
template <class T>
class Owned {
 public:
  Owned() { raw_.release = nullptr; }
  ~Owned() { reset(); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& other) noexcept : raw_(other.raw_) { other.raw_.release = nullptr; }
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      reset();
      raw_ = other.raw_;
      other.raw_.release = nullptr;
    }
    return *this;
  }
  // For a producer to fill; releases whatever was held before.
  T* out() {
    reset();
    return &raw_;
  }
  bool valid() const { return raw_.release != nullptr; }
  const T& operator*() const { return raw_; }
  const T* operator->() const { return &raw_; }
  void reset() {
    if (raw_.release) raw_.release(&raw_);
    raw_.release = nullptr;
  }

 private:
  T raw_{};
};

using OwnedSchema = Owned<ArrowSchema>;
using OwnedArray = Owned<ArrowArray>;

// A query result in Arrow form: a struct-typed schema whose children are the columns, and
// record batches (struct arrays) that follow it.
struct Table {
  OwnedSchema schema;
  std::vector<OwnedArray> batches;
  int64_t num_rows = 0;
};

}  // namespace sightline::arrow
