//===- Checksum.cpp -------------------------------------------------------===//
#include "sieve/runtime/Checksum.h"

#include <cstring>

namespace sieve::runtime {

namespace {

// Odd constants: multiplying by one is a bijection on 64-bit words, so no
// step can map two different states to the same one.
constexpr uint64_t kMulA = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kMulB = 0xd6e8feb86659fd93ull;

// Native byte order: a folder shared by hosts of different byte order
// would see each other's entries as damaged, and rebuild them.
uint64_t load64(const unsigned char *p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// For a fixed word this is a bijection of the state, and for a fixed state
/// an injection of the word: a changed word always changes the state, and
/// later steps cannot undo it.
uint64_t step(uint64_t state, uint64_t word) {
  state = (state ^ word) * kMulA;
  return state ^ (state >> 32);
}

/// Spreads every input bit over the low bits too (hash tables use those).
uint64_t finish(uint64_t h) {
  h ^= h >> 31;
  h *= kMulB;
  h ^= h >> 29;
  h *= kMulA;
  return h ^ (h >> 32);
}

} // namespace

uint64_t checksum64(const void *data, size_t size, uint64_t seed) {
  const auto *p = static_cast<const unsigned char *>(data);
  // Four lanes keep four multiplies in flight instead of waiting on one.
  uint64_t lane[4] = {seed ^ 0x243f6a8885a308d3ull, seed ^ 0x13198a2e03707344ull,
                      seed ^ 0xa4093822299f31d0ull, seed ^ 0x082efa98ec4e6c89ull};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    lane[0] = step(lane[0], load64(p + i));
    lane[1] = step(lane[1], load64(p + i + 8));
    lane[2] = step(lane[2], load64(p + i + 16));
    lane[3] = step(lane[3], load64(p + i + 24));
  }
  // The length goes in first so that zero padding of the tail is not
  // confused with zero bytes of a longer input.
  uint64_t h = step(seed, static_cast<uint64_t>(size) * kMulB);
  for (uint64_t l : lane)
    h = step(h, l);
  for (; i + 8 <= size; i += 8)
    h = step(h, load64(p + i));
  if (i < size) {
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, size - i);
    h = step(h, tail);
  }
  return finish(h);
}

} // namespace sieve::runtime
