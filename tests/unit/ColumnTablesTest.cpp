//===- ColumnTablesTest.cpp - the backward's column walk of a mask --------===//
//
// The column tables must hold exactly the tiles the row tables hold (the
// forward and the backward see one mask), grouped by key head under GQA,
// causal rule included, longest columns first and empty ones last, each
// column's tiles in (query head, query block) order.
//
//===----------------------------------------------------------------------===//
#include "sieve/runtime/ColumnTables.h"
#include "sieve/runtime/BlockMask.h"
#include "sieve/runtime/RowTables.h"

#include <gtest/gtest.h>

#include <ostream>
#include <random>
#include <set>
#include <tuple>

using namespace sieve::runtime;

namespace {

struct Case {
  int64_t heads, headsKv, seqQ, seqK, blockQ, blockK;
  double density;
  bool causal;
  bool bottomRight = false; // with causal: query i sees keys up to i + Sk - Sq
};

void PrintTo(const Case &c, std::ostream *os) {
  *os << "Hq=" << c.heads << " Hkv=" << c.headsKv << " Sq=" << c.seqQ << " Sk=" << c.seqK
      << " blocks " << c.blockQ << "x" << c.blockK << " density " << c.density
      << (c.causal ? (c.bottomRight ? " causal bottom-right" : " causal") : "");
}

class ColumnTablesTest : public ::testing::TestWithParam<Case> {};

TEST_P(ColumnTablesTest, HoldExactlyTheRowTablesTiles) {
  const Case c = GetParam();
  const int64_t QB = (c.seqQ + c.blockQ - 1) / c.blockQ, KB = (c.seqK + c.blockK - 1) / c.blockK;
  std::mt19937_64 rng(std::random_device{}());
  BlockMask mask = BlockMask::random(c.heads, QB, KB, c.blockQ, c.blockK, c.density, rng(), false);
  mask.setHead(c.heads - 1, false); // an empty head
  const uint8_t *bits = mask.packedBits().data();
  const CausalRule rule = CausalRule::of(
      c.causal, c.bottomRight ? CausalAlign::BottomRight : CausalAlign::TopLeft, c.seqQ, c.seqK);
  RowTables rows = buildRowTables(bits, c.heads, QB, KB, c.blockQ, c.blockK, c.seqQ, rule);
  ColumnTables cols =
      buildColumnTables(bits, c.heads, c.headsKv, QB, KB, c.blockQ, c.blockK, c.seqQ, rule);

  using TileKey = std::tuple<int32_t, int32_t, int32_t>; // query head, query block, key block
  std::set<TileKey> fromRows, fromColumns;
  for (int64_t r = 0; r < rows.numRows(); ++r)
    for (int32_t i = rows.spans[2 * r]; i < rows.spans[2 * r + 1]; ++i)
      fromRows.insert({rows.heads[r], rows.queryBlocks[r], rows.keyBlocks[i]});
  ASSERT_EQ(cols.numColumns(), c.headsKv * KB) << "one column per (key head, key block)";
  const int64_t group = c.heads / c.headsKv;
  int64_t previous = INT64_MAX;
  for (int64_t col = 0; col < cols.numColumns(); ++col) {
    const int32_t begin = cols.spans[2 * col], end = cols.spans[2 * col + 1];
    ASSERT_LE(end - begin, previous) << "columns are ordered longest first";
    previous = end - begin;
    for (int32_t i = begin; i < end; ++i) {
      ASSERT_EQ(cols.queryHeads[i] / group, cols.kvHeads[col]) << "a tile of another key head";
      if (i > begin)
        ASSERT_LT(std::make_pair(cols.queryHeads[i - 1], cols.queryBlocks[i - 1]),
                  std::make_pair(cols.queryHeads[i], cols.queryBlocks[i]));
      ASSERT_TRUE(
          fromColumns.insert({cols.queryHeads[i], cols.queryBlocks[i], cols.keyBlocks[col]}).second)
          << "a tile listed twice";
    }
  }
  EXPECT_EQ(fromColumns, fromRows);
  EXPECT_FALSE(fromRows.empty());
  // Exactly the kept tiles whose first key the block's last query sees (at
  // its position: i, or i + Sk - Sq bottom-right).
  std::set<TileKey> expected;
  for (int32_t h = 0; h < c.heads; ++h)
    for (int32_t qb = 0; qb < QB; ++qb)
      for (int32_t kb = 0; kb < KB; ++kb) {
        const int64_t lastQuery = std::min((qb + 1) * c.blockQ, c.seqQ) - 1;
        const int64_t position = lastQuery + (c.bottomRight ? c.seqK - c.seqQ : 0);
        if (mask.get(h, qb, kb) && (!c.causal || int64_t(kb) * c.blockK <= position))
          expected.insert({h, qb, kb});
      }
  EXPECT_EQ(fromRows, expected);
}

INSTANTIATE_TEST_SUITE_P(Masks, ColumnTablesTest,
                         ::testing::Values(Case{4, 4, 256, 256, 64, 64, 0.5, false},
                                           Case{8, 2, 300, 280, 64, 32, 0.4, true},
                                           Case{6, 1, 77, 130, 16, 32, 0.6, false},
                                           Case{4, 2, 1000, 777, 64, 128, 0.3, true},
                                           // Bottom-right: Sq < Sk (a KV cache), Sq > Sk
                                           // (early query blocks see no key), one query.
                                           Case{8, 2, 200, 456, 64, 32, 0.6, true, true},
                                           Case{4, 2, 1000, 777, 64, 128, 0.6, true, true},
                                           Case{4, 4, 1, 300, 16, 32, 0.7, true, true}));

} // namespace
