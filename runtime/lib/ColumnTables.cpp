//===- ColumnTables.cpp ---------------------------------------------------===//
#include "sieve/runtime/ColumnTables.h"

#include "sieve/runtime/RowTables.h"

#include <algorithm>

namespace sieve::runtime {

ColumnTables buildColumnTables(const uint8_t *bits, int64_t heads, int64_t headsKv,
                               int64_t queryBlocks, int64_t keyBlocks, int64_t blockQ,
                               int64_t blockK, int64_t seqQ, CausalRule causal) {
  const int64_t group = heads / headsKv;
  struct Tile {
    int32_t head, qBlock;
  };
  // Tiles per column, gathered in (query head, query block) order.
  std::vector<std::vector<Tile>> columns(static_cast<size_t>(headsKv * keyBlocks));
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t qb = 0; qb < queryBlocks; ++qb) {
      int64_t kbEnd = causalKeyBlockEnd(qb, blockQ, blockK, seqQ, keyBlocks, causal);
      int64_t base = (h * queryBlocks + qb) * keyBlocks;
      for (int64_t kb = 0; kb < kbEnd; ++kb) {
        int64_t n = base + kb;
        if ((bits[n / 8] >> (n % 8)) & 1)
          columns[static_cast<size_t>((h / group) * keyBlocks + kb)].push_back(
              {static_cast<int32_t>(h), static_cast<int32_t>(qb)});
      }
    }
  std::vector<int64_t> order(columns.size());
  for (size_t c = 0; c < order.size(); ++c)
    order[c] = static_cast<int64_t>(c);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return columns[static_cast<size_t>(a)].size() > columns[static_cast<size_t>(b)].size();
  });
  ColumnTables t;
  for (int64_t c : order) {
    const std::vector<Tile> &tiles = columns[static_cast<size_t>(c)];
    t.kvHeads.push_back(static_cast<int32_t>(c / keyBlocks));
    t.keyBlocks.push_back(static_cast<int32_t>(c % keyBlocks));
    t.spans.push_back(static_cast<int32_t>(t.queryHeads.size()));
    for (const Tile &tile : tiles) {
      t.queryHeads.push_back(tile.head);
      t.queryBlocks.push_back(tile.qBlock);
    }
    t.spans.push_back(static_cast<int32_t>(t.queryHeads.size()));
  }
  return t;
}

} // namespace sieve::runtime
