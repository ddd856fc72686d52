// A set of 32-bit codes (the dictionary codes of a column's distinct values) that reads and
// writes Roaring's portable serialization, the format rollups keep their distinct-value bitmaps
// in (engine/bitmap_functions.h).
//
// Why not a Roaring bitmap: a distinct count over a rollup unions one small serialized bitmap per
// group read (rides at 10M rows: ~90 bytes, ~40 codes each, 262,000 of them for an hour-of-day
// chart over an hour rollup). Deserializing each into a Roaring bitmap allocates its containers
// before the union; this set adds the serialized containers' values to its own chunks directly.
//
//   CodeSet s;
//   if (!s.add_portable(bytes, length)) ...      // malformed: nothing is guaranteed about s
//   s.add(42);
//   int64_t n = s.count();
//   std::string blob = s.portable();             // readable by roaring_bitmap_portable_deserialize
//
// Per 16-bit high half of the codes (a chunk of 65,536 codes): the low halves as an unsorted list
// (repeats kept) while it holds at most 4,096 of them, then as 65,536 bits (8 KiB, what a Roaring
// bitmap container of 4,096 values takes too). Sorting the repeats away whenever the list filled
// up instead was the largest cost of a distinct count by month and district (rides, 10M rows).
//
// Not thread-safe: one set per aggregate state, used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sightline::engine {

class CodeSet {
 public:
  void add(uint32_t code);
  // Adds every code of a bitmap in Roaring's portable format (with or without run containers).
  // False when the bytes are not such a bitmap (cut short, too long, unknown cookie, runs that
  // leave the chunk).
  bool add_portable(const void* bytes, size_t length);
  void merge(const CodeSet& other);
  // How many distinct codes the set holds.
  int64_t count();
  // The set in Roaring's portable format, without run containers (array containers up to 4,096
  // values, bitset containers above).
  std::string portable();

 private:
  static constexpr size_t kWords = 1024;        // 65,536 bits
  static constexpr size_t kMaxListed = 4096;    // values a chunk lists before it turns to bits
  struct Chunk {
    uint16_t key = 0;
    std::vector<uint16_t> listed;              // unsorted, may repeat
    std::unique_ptr<uint64_t[]> bits;          // once set, `listed` is empty
  };
  Chunk& chunk(uint16_t key);
  static void to_bits(Chunk& c);
  static void set_bit(Chunk& c, uint16_t low) { c.bits[low >> 6] |= uint64_t{1} << (low & 63); }
  static void add_low(Chunk& c, uint16_t low);
  static void add_run(Chunk& c, uint32_t start, uint32_t length);  // start .. start + length - 1
  // Sorts and dedupes every list, so sizes are exact.
  void compact();

  std::vector<Chunk> chunks_;  // ordered by key
};

}  // namespace sightline::engine
