//===- FuzzInputs.h - how the fuzz targets read their input bytes -*- C++ -*-===//
//
// One place for the byte layouts of the targets' inputs, so that the seed
// generator (MakeSeeds.cpp) writes exactly what the targets read. Inputs are
// read front to back and a read past the end yields zeros: every byte string
// is a valid input, and a seed can be written as plain concatenated fields.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTS_FUZZ_FUZZINPUTS_H
#define SIEVE_TESTS_FUZZ_FUZZINPUTS_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace sieve::fuzz {

/// Reads fixed-width little-endian fields and byte strings from the front.
class ByteReader {
public:
  ByteReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<uint64_t>(u8()) << (8 * i);
    return v;
  }
  /// Up to `n` bytes (fewer at the end of the input).
  std::string bytes(size_t n) {
    n = n < size_ - pos_ ? n : size_ - pos_;
    std::string out(reinterpret_cast<const char *>(data_ + pos_), n);
    pos_ += n;
    return out;
  }
  std::string rest() { return bytes(size_ - pos_); }

  /// An integer argument: one selector byte, then (for the raw kinds) the
  /// value. Most selectors give small numbers, the rest the edges where
  /// size arithmetic overflows.
  int64_t pickInt() {
    uint8_t s = u8();
    switch (s >> 4) {
    case 0xf:
      return static_cast<int64_t>(u64()); // any 64-bit value
    case 0xe:
      switch (s & 0xf) {
      case 0:
        return std::numeric_limits<int64_t>::max();
      case 1:
        return std::numeric_limits<int64_t>::min();
      case 2:
        return int64_t(1) << 32;
      case 3:
        return int64_t(1) << 62;
      case 4:
        return std::numeric_limits<int32_t>::max();
      case 5:
        return -1;
      default:
        return int64_t(1) << (20 + (s & 0xf)); // 2^26 .. 2^35
      }
    case 0xd:
      return int64_t(1) << (s & 0xf); // 1 .. 32768
    case 0xc:
      return -static_cast<int64_t>(s & 0xf);
    default:
      return s; // 0 .. 191, the common case
    }
  }

private:
  const uint8_t *data_;
  size_t size_;
  size_t pos_ = 0;
};

/// Appends the fields ByteReader reads, for the seed generator.
struct ByteWriter {
  std::string out;
  void u8(uint8_t v) { out += static_cast<char>(v); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v & 0xff));
    u8(static_cast<uint8_t>(v >> 8));
  }
  void bytes(const std::string &s) { out += s; }
  /// An int that pickInt() reads back as `v`.
  void pickInt(int64_t v) {
    if (v >= 0 && v <= 191) {
      u8(static_cast<uint8_t>(v));
      return;
    }
    u8(0xf0);
    for (int i = 0; i < 8; ++i)
      u8(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
  }
};

// Mask and stats files: [u16 sidecar length][sidecar JSON][.npy bytes]. The
// mask target reads one more byte first: the layer readMaskFile is asked for.

// Cache entries: [u8 mode][rest]. An even mode decodes `rest` as the whole
// file. An odd mode reads `rest` as [u16 metadata length][metadata][code]
// and wraps it in a header with the right sizes and checksum, so mutations
// of the metadata reach its parser instead of stopping at the checksum.
constexpr const char *kCacheEntryKey = "0123456789abcdef0123456789abcdef";

// The C API: a program of calls, each an opcode byte and its arguments
// (CApiFuzzer.cpp reads them; handle arguments are one byte each).
enum class CApiOp : uint8_t {
  ContextCreate,
  ContextDestroy,
  ContextBackend,
  ContextDeviceName,
  KernelCompile,
  KernelLoad,
  KernelDestroy,
  KernelDescribe,
  KernelNeedsMask,
  MaskCreate,
  MaskDestroy,
  Attention,
  Count
};

} // namespace sieve::fuzz

#endif
