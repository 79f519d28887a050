//===- Limits.h - the largest problem sieve accepts -------------*- C++ -*-===//
//
// Sizes arrive from people and programs (CLI flags, Python and C arguments,
// mask and stats files). The limits lie far past any model's while keeping
// every product of them inside int64, so a mistyped size is refused by name
// before it overflows an index or allocates gigabytes.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_LIMITS_H
#define SIEVE_RUNTIME_LIMITS_H

#include "sieve/Error.h"

#include <cstdint>

namespace sieve::runtime {

struct ProblemShape;

constexpr int64_t kMaxBatch = int64_t(1) << 16;    // 65536
constexpr int64_t kMaxHeads = int64_t(1) << 12;    // 4096 (query or key/value heads)
constexpr int64_t kMaxSequence = int64_t(1) << 24; // 16777216 tokens (also the largest block)
constexpr int64_t kMaxHeadDim = int64_t(1) << 10;  // 1024
/// Query rows or keys of a mask tile: the CPU kernel keeps a tile row's
/// scores on the stack (256 KiB at this size; 16 MiB overflowed it).
constexpr int64_t kMaxBlock = int64_t(1) << 16; // 65536
/// Tiles of one mask: 1 GiB as a .npy table (one byte a tile), 128 MiB of
/// bits in memory.
constexpr int64_t kMaxMaskTiles = int64_t(1) << 30;

/// `name` (a flag or field, "seq_q") against [1, limit]: the error names the
/// value, the limit and what the limit is of.
Error checkSize(const char *name, int64_t value, int64_t limit);

/// Every size of `shape` against its limit; errors name the field.
Error checkProblemLimits(const ProblemShape &shape);

/// A mask of heads x queryBlocks x keyBlocks tiles against kMaxMaskTiles,
/// without overflowing on the way.
Error checkMaskTiles(int64_t heads, int64_t queryBlocks, int64_t keyBlocks);

} // namespace sieve::runtime

#endif
