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

#include "sieve/runtime/CausalMask.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace sieve::runtime {

/// The key blocks [0, end) that a query block can see under `causal`: a
/// key block wholly after the last key the block's last query sees (seqQ
/// bounds the last block; the rule's offset shifts the diagonal) is
/// dropped, and a block whose queries all come before key 0 sees none.
/// The row and column tables share this rule, so the forward and the
/// backward walk the same tiles.
inline int64_t causalKeyBlockEnd(int64_t qBlock, int64_t blockQ, int64_t blockK, int64_t seqQ,
                                 int64_t keyBlocks, CausalRule causal) {
  if (!causal.enabled)
    return keyBlocks;
  int64_t lastKey = std::min((qBlock + 1) * blockQ, seqQ) - 1 + causal.offset;
  return lastKey < 0 ? 0 : std::min(keyBlocks, lastKey / blockK + 1);
}

struct RowTables {
  std::vector<int32_t> heads, queryBlocks; // per row
  /// Two entries per row: [begin, end) of its key blocks in keyBlocks. Rows
  /// with the same key-block list (heads with identical masks, as
  /// layer-wide or head-shared masks produce) point at one copy.
  std::vector<int32_t> spans;
  std::vector<int32_t> keyBlocks;
  int64_t numRows() const { return static_cast<int64_t>(heads.size()); }
};

/// Rows for every (head, query block) of a mask whose tile (h, qb, kb) is
/// bit (h * queryBlocks + qb) * keyBlocks + kb of `packedBits`. With
/// `causal` enabled, key blocks wholly after a row's last query
/// (causalKeyBlockEnd) are dropped. Rows are ordered longest first, so a GPU starts
/// the slow rows early; empty rows come last (they only write zeros).
/// keyBlocks holds each distinct key-block list once.
RowTables buildRowTables(const uint8_t *packedBits, int64_t heads, int64_t queryBlocks,
                         int64_t keyBlocks, int64_t blockQ, int64_t blockK, int64_t seqQ,
                         CausalRule causal);

} // namespace sieve::runtime

#endif
