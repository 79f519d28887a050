//===- Checksum.h - a fast 64-bit checksum of bytes -------------*- C++ -*-===//
//
// Disk cache entries are verified on every hit, and a hit must cost a few
// milliseconds for megabytes of PTX, so the checksum reads 32 bytes a step
// in four independent lanes instead of one byte at a time (FNV-1a). It finds
// corruption (every change confined to one 8-byte word is always caught);
// it is not a defence against someone forging an entry.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_CHECKSUM_H
#define SIEVE_RUNTIME_CHECKSUM_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sieve::runtime {

uint64_t checksum64(const void *data, size_t size, uint64_t seed = 0);
inline uint64_t checksum64(std::string_view bytes, uint64_t seed = 0) {
  return checksum64(bytes.data(), bytes.size(), seed);
}

/// Hashes strings with checksum64: a drop-in hasher for unordered maps
/// whose keys are long (a mask's bits).
struct StringChecksumHash {
  size_t operator()(const std::string &s) const { return static_cast<size_t>(checksum64(s)); }
};

} // namespace sieve::runtime

#endif
