// CodeSet against an independent implementation of the same format: Roaring bitmaps (CRoaring)
// write the bitmaps it reads (arrays, bitsets, runs, many chunks) and read the ones it writes;
// the unions and counts must be the exact set arithmetic of the codes. Malformed input is refused,
// never read past its end.
#include "engine/code_set.h"

#include <gtest/gtest.h>
#include <roaring/roaring.h>

#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace sightline::engine {
namespace {

using Bitmap = std::unique_ptr<roaring_bitmap_t, decltype(&roaring_bitmap_free)>;

Bitmap bitmap_of(const std::set<uint32_t>& codes) {
  Bitmap b(roaring_bitmap_create(), roaring_bitmap_free);
  for (uint32_t c : codes) roaring_bitmap_add(b.get(), c);
  return b;
}

std::string portable(roaring_bitmap_t* b, bool runs) {
  if (runs) roaring_bitmap_run_optimize(b);
  std::string out(roaring_bitmap_portable_size_in_bytes(b), '\0');
  EXPECT_EQ(roaring_bitmap_portable_serialize(b, out.data()), out.size());
  return out;
}

std::set<uint32_t> codes_in(const std::string& bytes) {
  Bitmap b(roaring_bitmap_portable_deserialize_safe(bytes.data(), bytes.size()), roaring_bitmap_free);
  EXPECT_TRUE(b) << "CRoaring reads what CodeSet writes";
  std::set<uint32_t> out;
  if (!b) return out;
  roaring_uint32_iterator_t* it = roaring_create_iterator(b.get());
  for (; it->has_value; roaring_advance_uint32_iterator(it)) out.insert(it->current_value);
  roaring_free_uint32_iterator(it);
  return out;
}

// Random sets shaped like distinct-value bitmaps: a few codes, many codes, dense runs, codes in
// several chunks of 65,536, the chunk edges.
std::set<uint32_t> random_codes(std::mt19937& rng) {
  std::set<uint32_t> s;
  const int shape = std::uniform_int_distribution<int>(0, 5)(rng);
  auto any = [&](uint32_t hi) { return std::uniform_int_distribution<uint32_t>(0, hi)(rng); };
  switch (shape) {
    case 0:  // a group's few drivers
      for (int i = any(60); i > 0; --i) s.insert(any(24'000));
      break;
    case 1:  // thousands, past the array limit of a container
      for (int i = 3000 + any(4000); i > 0; --i) s.insert(any(65'535));
      break;
    case 2: {  // runs (which CRoaring writes as run containers)
      for (int r = 1 + any(5); r > 0; --r) {
        const uint32_t start = any(300'000), length = 1 + any(9000);
        for (uint32_t v = start; v < start + length; ++v) s.insert(v);
      }
      break;
    }
    case 3:  // spread over many chunks
      for (int i = any(2000); i > 0; --i) s.insert(any(4'000'000));
      break;
    case 4:  // the edges of chunks and of the code space
      for (uint32_t v : {0u, 1u, 65'535u, 65'536u, 131'071u, 4'294'967'295u, 4'294'901'760u}) s.insert(v);
      break;
    default:  // empty
      break;
  }
  return s;
}

TEST(CodeSet, UnionsAndCountsEqualTheSetArithmeticOfRoaringBitmaps) {
  std::mt19937 rng(20261207);
  for (int round = 0; round < 120; ++round) {
    CodeSet set;
    std::set<uint32_t> expected;
    const int parts = std::uniform_int_distribution<int>(1, 40)(rng);
    for (int p = 0; p < parts; ++p) {
      std::set<uint32_t> codes = random_codes(rng);
      expected.insert(codes.begin(), codes.end());
      if (p % 7 == 3) {
        for (uint32_t c : codes) set.add(c);  // codes one by one, as sightline_bitmap adds rows
        continue;
      }
      Bitmap b = bitmap_of(codes);
      const std::string bytes = portable(b.get(), p % 2 == 0);
      ASSERT_TRUE(set.add_portable(bytes.data(), bytes.size())) << "round " << round << " part " << p;
    }
    EXPECT_EQ(set.count(), static_cast<int64_t>(expected.size())) << "round " << round;
    EXPECT_EQ(codes_in(set.portable()), expected) << "round " << round;
  }
}

TEST(CodeSet, MergedSetsHoldTheUnionOfTheirCodes) {
  std::mt19937 rng(7);
  for (int round = 0; round < 100; ++round) {
    CodeSet a, b;
    std::set<uint32_t> expected;
    for (CodeSet* s : {&a, &b})
      for (int p = std::uniform_int_distribution<int>(0, 6)(rng); p > 0; --p) {
        std::set<uint32_t> codes = random_codes(rng);
        expected.insert(codes.begin(), codes.end());
        Bitmap bm = bitmap_of(codes);
        const std::string bytes = portable(bm.get(), true);
        ASSERT_TRUE(s->add_portable(bytes.data(), bytes.size()));
      }
    a.merge(b);
    EXPECT_EQ(a.count(), static_cast<int64_t>(expected.size()));
    EXPECT_EQ(codes_in(a.portable()), expected);
  }
}

TEST(CodeSet, RepeatsOfFewCodesStayFewCodes) {
  CodeSet set;
  Bitmap b = bitmap_of({5, 9, 70'000});
  const std::string bytes = portable(b.get(), false);
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(set.add_portable(bytes.data(), bytes.size()));
  EXPECT_EQ(set.count(), 3);
  EXPECT_EQ(codes_in(set.portable()), (std::set<uint32_t>{5, 9, 70'000}));
}

TEST(CodeSet, MalformedBitmapsAreRefusedWithoutReadingPastTheirEnd) {
  std::mt19937 rng(99);
  std::vector<std::string> valid;
  for (int i = 0; i < 40; ++i) {
    Bitmap b = bitmap_of(random_codes(rng));
    valid.push_back(portable(b.get(), i % 2 == 0));
  }
  for (const std::string& bytes : valid) {
    // Cut at every length: never accepted (the format has no optional tail).
    for (size_t n = 0; n < bytes.size(); n += (bytes.size() > 400 ? 37 : 1)) {
      // A copy of exactly n bytes, so a read past it is a sanitizer error, not a lucky read.
      std::unique_ptr<char[]> cut(new char[n + 1]);
      std::memcpy(cut.get(), bytes.data(), n);
      CodeSet set;
      EXPECT_FALSE(set.add_portable(cut.get(), n)) << "accepted " << n << " of " << bytes.size() << " bytes";
    }
    // Bytes left over after the last container: not a bitmap.
    CodeSet set;
    std::string longer = bytes + "x";
    EXPECT_FALSE(set.add_portable(longer.data(), longer.size()));
  }
  // Changed at random: refused or read, never a crash or a read past the end; what was read is
  // some set of codes, which CodeSet then writes as a bitmap CRoaring reads with the same count.
  int read = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = valid[static_cast<size_t>(i) % valid.size()];
    if (bytes.empty()) continue;
    for (int k = std::uniform_int_distribution<int>(1, 4)(rng); k > 0; --k)
      bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)] = static_cast<char>(rng());
    CodeSet set;
    if (!set.add_portable(bytes.data(), bytes.size())) continue;
    ++read;
    EXPECT_EQ(static_cast<int64_t>(codes_in(set.portable()).size()), set.count());
  }
  EXPECT_GT(read, 100);  // changed values inside containers are still bitmaps
  CodeSet set;
  const uint32_t unknown_cookie = 4242;
  EXPECT_FALSE(set.add_portable(&unknown_cookie, sizeof unknown_cookie));
  // A run that would leave its chunk (start 65,000, length 1,000).
  const unsigned char run[] = {0x3B, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0xE7, 0x03, 0x01, 0x00, 0xE8, 0xFD, 0xE7, 0x03};
  EXPECT_FALSE(set.add_portable(run, sizeof run));
}

}  // namespace
}  // namespace sightline::engine
