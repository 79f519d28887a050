//===- RowTables.cpp ------------------------------------------------------===//
#include "sieve/runtime/RowTables.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace sieve::runtime {

RowTables buildRowTables(const uint8_t *bits, int64_t heads, int64_t queryBlocks, int64_t keyBlocks,
                         int64_t blockQ, int64_t blockK, int64_t seqQ, CausalRule causal) {
  struct Row {
    int32_t head, qBlock, begin, size;
  };
  std::vector<Row> rows;
  rows.reserve(heads * queryBlocks);
  std::vector<int32_t> keys;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t qb = 0; qb < queryBlocks; ++qb) {
      int64_t kbEnd = causalKeyBlockEnd(qb, blockQ, blockK, seqQ, keyBlocks, causal);
      int32_t begin = static_cast<int32_t>(keys.size());
      int64_t base = (h * queryBlocks + qb) * keyBlocks;
      // Whole zero bytes are skipped, so sparse masks cost little more than
      // their kept tiles.
      for (int64_t kb = 0; kb < kbEnd;) {
        int64_t n = base + kb;
        uint8_t byte = static_cast<uint8_t>(bits[n / 8] >> (n % 8));
        if (byte == 0) {
          kb += 8 - n % 8;
          continue;
        }
        if (byte & 1)
          keys.push_back(static_cast<int32_t>(kb));
        ++kb;
      }
      rows.push_back({static_cast<int32_t>(h), static_cast<int32_t>(qb), begin,
                      static_cast<int32_t>(keys.size()) - begin});
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row &a, const Row &b) { return a.size > b.size; });
  RowTables t;
  t.heads.reserve(rows.size());
  t.queryBlocks.reserve(rows.size());
  t.spans.reserve(2 * rows.size());
  // Each distinct list is stored once; the map is keyed by the list's
  // contents (hash of the int32 bytes), so its memory is O(kept tiles).
  std::unordered_map<std::string_view, int32_t> firstCopy;
  auto bytesOf = [&](const Row &r) {
    return std::string_view(reinterpret_cast<const char *>(keys.data() + r.begin),
                            sizeof(int32_t) * r.size);
  };
  for (const Row &r : rows) {
    t.heads.push_back(r.head);
    t.queryBlocks.push_back(r.qBlock);
    auto [it, inserted] =
        firstCopy.try_emplace(bytesOf(r), static_cast<int32_t>(t.keyBlocks.size()));
    if (inserted)
      t.keyBlocks.insert(t.keyBlocks.end(), keys.begin() + r.begin,
                         keys.begin() + r.begin + r.size);
    t.spans.push_back(it->second);
    t.spans.push_back(it->second + r.size);
  }
  return t;
}

} // namespace sieve::runtime
