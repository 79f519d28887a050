//===- RowTables.h - a block mask as the kernels' work list -----*- C++ -*-===//
//
// Every GPU and CPU kernel walks a mask as rows: one (head, query block)
// per row, its kept key blocks in a CSR list. The compiler bakes these
// tables into a specialized kernel (sieve-specialize-mask); the generic
// kernel receives them at launch. Both build them here, so both schedule
// the same work in the same order.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_ROWTABLES_H
#define SIEVE_RUNTIME_ROWTABLES_H

#include <cstdint>
#include <vector>

namespace sieve::runtime {

struct RowTables {
  std::vector<int32_t> heads, queryBlocks; // per row
  std::vector<int32_t> offsets;            // rows + 1 entries into keyBlocks
  std::vector<int32_t> keyBlocks;
  int64_t numRows() const { return static_cast<int64_t>(heads.size()); }
};

/// Rows for every (head, query block) of a mask whose tile (h, qb, kb) is
/// bit (h * queryBlocks + qb) * keyBlocks + kb of `packedBits`. With
/// `causal`, key blocks wholly after a row's last query (seqQ bounds the
/// last block) are dropped. Rows are ordered longest first, so a GPU starts
/// the slow rows early; empty rows come last (they only write zeros).
RowTables buildRowTables(const uint8_t *packedBits, int64_t heads, int64_t queryBlocks,
                         int64_t keyBlocks, int64_t blockQ, int64_t blockK, int64_t seqQ,
                         bool causal);

} // namespace sieve::runtime

#endif
