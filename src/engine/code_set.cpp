#include "engine/code_set.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace sightline::engine {
namespace {

// Roaring's portable format (github.com/RoaringBitmap/RoaringFormatSpec), little-endian.
constexpr uint32_t kCookieNoRuns = 12346;
constexpr uint32_t kCookieRuns = 12347;
constexpr uint32_t kNoOffsetThreshold = 4;  // with runs, fewer containers than this have no offsets
constexpr uint32_t kMaxArray = 4096;        // larger containers are bitsets

// Reads little-endian values from a byte range, failing (not reading) past its end.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool u16(uint16_t& v) { return take(&v, 2); }
  bool u32(uint32_t& v) { return take(&v, 4); }
  const uint8_t* bytes(size_t n) {
    if (size_ - at_ < n) return nullptr;
    const uint8_t* p = data_ + at_;
    at_ += n;
    return p;
  }
  bool at_end() const { return at_ == size_; }

 private:
  bool take(void* out, size_t n) {
    const uint8_t* p = bytes(n);
    if (!p) return false;
    std::memcpy(out, p, n);  // the platform is little-endian, as the format
    return true;
  }
  const uint8_t* data_;
  size_t size_, at_ = 0;
};

static_assert(std::endian::native == std::endian::little, "Roaring's portable format is little-endian");

void put16(std::string& out, uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }
void put32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

}  // namespace

CodeSet::Chunk& CodeSet::chunk(uint16_t key) {
  auto it = std::lower_bound(chunks_.begin(), chunks_.end(), key, [](const Chunk& c, uint16_t k) { return c.key < k; });
  if (it == chunks_.end() || it->key != key) {
    it = chunks_.insert(it, Chunk{});
    it->key = key;
  }
  return *it;
}

void CodeSet::to_bits(Chunk& c) {
  if (c.bits) return;
  c.bits = std::make_unique<uint64_t[]>(kWords);  // zeroed
  for (uint16_t low : c.listed) set_bit(c, low);
  c.listed.clear();
  c.listed.shrink_to_fit();
}

void CodeSet::add_low(Chunk& c, uint16_t low) {
  if (c.bits) {
    set_bit(c, low);
    return;
  }
  c.listed.push_back(low);
  if (c.listed.size() > kMaxListed) to_bits(c);  // sorting away repeats each time cost more (measured)
}

void CodeSet::add_run(Chunk& c, uint32_t start, uint32_t length) {
  if (!c.bits && c.listed.size() + length > kMaxListed) to_bits(c);
  if (!c.bits) {
    for (uint32_t v = start; v < start + length; ++v) c.listed.push_back(static_cast<uint16_t>(v));
    return;
  }
  uint32_t v = start;
  const uint32_t end = start + length;
  for (; v < end && (v & 63); ++v) set_bit(c, static_cast<uint16_t>(v));
  for (; v + 64 <= end; v += 64) c.bits[v >> 6] = ~uint64_t{0};
  for (; v < end; ++v) set_bit(c, static_cast<uint16_t>(v));
}

void CodeSet::add(uint32_t code) {
  add_low(chunk(static_cast<uint16_t>(code >> 16)), static_cast<uint16_t>(code & 0xFFFF));
}

bool CodeSet::add_portable(const void* bytes, size_t length) {
  Reader in(static_cast<const uint8_t*>(bytes), length);
  uint32_t cookie = 0;
  if (!in.u32(cookie)) return false;
  uint32_t containers = 0;
  const uint8_t* run_flags = nullptr;
  const bool runs = (cookie & 0xFFFF) == kCookieRuns;
  if (runs) {
    containers = (cookie >> 16) + 1;
    run_flags = in.bytes((containers + 7) / 8);
    if (!run_flags) return false;
  } else if (cookie == kCookieNoRuns) {
    if (!in.u32(containers) || containers > 65536) return false;
  } else {
    return false;
  }
  const uint8_t* headers = in.bytes(size_t{containers} * 4);
  if (!headers) return false;
  if (!runs || containers >= kNoOffsetThreshold)
    if (!in.bytes(size_t{containers} * 4)) return false;  // offsets: the containers follow in order anyway
  for (uint32_t i = 0; i < containers; ++i) {
    uint16_t key, cardinality_minus_one;
    std::memcpy(&key, headers + 4 * i, 2);
    std::memcpy(&cardinality_minus_one, headers + 4 * i + 2, 2);
    const uint32_t cardinality = uint32_t{cardinality_minus_one} + 1;
    Chunk& c = chunk(key);
    if (runs && (run_flags[i / 8] >> (i % 8) & 1)) {
      uint16_t n = 0;
      if (!in.u16(n)) return false;
      const uint8_t* pairs = in.bytes(size_t{n} * 4);
      if (!pairs) return false;
      for (uint16_t r = 0; r < n; ++r) {
        uint16_t start, length_minus_one;
        std::memcpy(&start, pairs + 4 * r, 2);
        std::memcpy(&length_minus_one, pairs + 4 * r + 2, 2);
        if (uint32_t{start} + length_minus_one > 0xFFFF) return false;
        add_run(c, start, uint32_t{length_minus_one} + 1);
      }
    } else if (cardinality > kMaxArray) {
      const uint8_t* words = in.bytes(kWords * 8);
      if (!words) return false;
      to_bits(c);
      for (size_t w = 0; w < kWords; ++w) {
        uint64_t v;
        std::memcpy(&v, words + 8 * w, 8);
        c.bits[w] |= v;
      }
    } else {
      const uint8_t* values = in.bytes(size_t{cardinality} * 2);
      if (!values) return false;
      if (c.bits) {
        for (uint32_t k = 0; k < cardinality; ++k) {
          uint16_t low;
          std::memcpy(&low, values + 2 * k, 2);
          set_bit(c, low);
        }
      } else {
        const size_t had = c.listed.size();
        c.listed.resize(had + cardinality);
        std::memcpy(c.listed.data() + had, values, size_t{cardinality} * 2);
        if (c.listed.size() > kMaxListed) to_bits(c);
      }
    }
  }
  return in.at_end();
}

void CodeSet::merge(const CodeSet& other) {
  for (const Chunk& o : other.chunks_) {
    Chunk& c = chunk(o.key);
    if (o.bits) {
      to_bits(c);
      for (size_t w = 0; w < kWords; ++w) c.bits[w] |= o.bits[w];
    } else {
      for (uint16_t low : o.listed) add_low(c, low);
    }
  }
}

void CodeSet::compact() {
  for (Chunk& c : chunks_) {
    if (c.bits) continue;
    std::sort(c.listed.begin(), c.listed.end());
    c.listed.erase(std::unique(c.listed.begin(), c.listed.end()), c.listed.end());
  }
}

int64_t CodeSet::count() {
  compact();
  int64_t n = 0;
  for (const Chunk& c : chunks_) {
    if (!c.bits) {
      n += static_cast<int64_t>(c.listed.size());
      continue;
    }
    for (size_t w = 0; w < kWords; ++w) n += std::popcount(c.bits[w]);
  }
  return n;
}

std::string CodeSet::portable() {
  compact();
  struct Out {
    uint16_t key;
    uint32_t cardinality;
    const Chunk* chunk;
  };
  std::vector<Out> outs;
  for (const Chunk& c : chunks_) {
    uint32_t n = 0;
    if (c.bits)
      for (size_t w = 0; w < kWords; ++w) n += static_cast<uint32_t>(std::popcount(c.bits[w]));
    else
      n = static_cast<uint32_t>(c.listed.size());
    if (n > 0) outs.push_back({c.key, n, &c});
  }
  std::string out;
  put32(out, kCookieNoRuns);
  put32(out, static_cast<uint32_t>(outs.size()));
  for (const Out& o : outs) {
    put16(out, o.key);
    put16(out, static_cast<uint16_t>(o.cardinality - 1));
  }
  // Offsets: where each container starts, from the beginning of the bitmap.
  uint32_t at = static_cast<uint32_t>(out.size() + 4 * outs.size());
  for (const Out& o : outs) {
    put32(out, at);
    at += o.cardinality > kMaxArray ? kWords * 8 : o.cardinality * 2;
  }
  for (const Out& o : outs) {
    const Chunk& c = *o.chunk;
    if (o.cardinality > kMaxArray) {
      if (c.bits) {
        out.append(reinterpret_cast<const char*>(c.bits.get()), kWords * 8);
      } else {
        std::vector<uint64_t> words(kWords, 0);
        for (uint16_t low : c.listed) words[low >> 6] |= uint64_t{1} << (low & 63);
        out.append(reinterpret_cast<const char*>(words.data()), kWords * 8);
      }
    } else if (c.bits) {
      for (size_t w = 0; w < kWords; ++w)
        for (uint64_t word = c.bits[w]; word; word &= word - 1) put16(out, static_cast<uint16_t>(w * 64 + std::countr_zero(word)));
    } else {
      for (uint16_t low : c.listed) put16(out, low);
    }
  }
  return out;
}

}  // namespace sightline::engine
