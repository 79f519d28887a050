//===- ColumnTables.h - a block mask walked by key blocks -------*- C++ -*-===//
//
// The backward pass's dK and dV walk a mask by columns: one (key head, key
// block) per column, with the (query head, query block) tiles that read it
// in a CSR list. Under GQA a column lists the tiles of every query head that
// shares its key head, so one worker sums their contributions without
// atomics. The tiles are exactly those of the row tables (RowTables.h),
// causal rule included.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_COLUMNTABLES_H
#define SIEVE_RUNTIME_COLUMNTABLES_H

#include "sieve/runtime/CausalMask.h"

#include <cstdint>
#include <vector>

namespace sieve::runtime {

struct ColumnTables {
  std::vector<int32_t> kvHeads, keyBlocks; // per column
  /// Two entries per column: [begin, end) of its tiles in the lists below.
  std::vector<int32_t> spans;
  /// Per tile of a column: its query head and query block, by query head
  /// then query block (a fixed summation order).
  std::vector<int32_t> queryHeads, queryBlocks;
  int64_t numColumns() const { return static_cast<int64_t>(kvHeads.size()); }
};

/// Columns for every (key head, key block) of a mask laid out as
/// buildRowTables takes it (`heads` query heads, `headsKv` key heads
/// dividing them). Columns are ordered longest first; empty columns come
/// last (their dK and dV are zeros).
ColumnTables buildColumnTables(const uint8_t *packedBits, int64_t heads, int64_t headsKv,
                               int64_t queryBlocks, int64_t keyBlocks, int64_t blockQ,
                               int64_t blockK, int64_t seqQ, CausalRule causal);

} // namespace sieve::runtime

#endif
