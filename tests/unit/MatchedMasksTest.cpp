//===- MatchedMasksTest.cpp - baselines matched on as-run work ------------===//
#include "sieve/calibration/MatchedMasks.h"
#include "sieve/calibration/Evaluate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace sieve;
using namespace sieve::calibration;

namespace {

/// A mask that keeps the top-left corner and the diagonal, as data masks
/// over short inputs do: every head keeps a different number of tiles.
runtime::BlockMask topLeftMask(int64_t heads, int64_t blocks, int64_t block) {
  runtime::BlockMask m = *runtime::BlockMask::create(heads, blocks, blocks, block, block);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t qb = 0; qb < blocks; ++qb)
      for (int64_t kb = 0; kb < blocks; ++kb)
        m.set(h, qb, kb, qb == kb || (qb + kb <= 2 + h % 3));
  return m;
}

/// Lengths from 1 to `max` tokens, skewed short like the held-out sentences.
std::vector<int64_t> shortLengths(int64_t count, int64_t max, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::geometric_distribution<int64_t> extra(0.08);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < count; ++i)
    out.push_back(std::min<int64_t>(max, 4 + extra(rng)));
  return out;
}

double maxWeight(const std::vector<double> &w) { return *std::max_element(w.begin(), w.end()); }

} // namespace

TEST(MatchedMasksTest, TileRunCountsCountTheInputsThatReachATile) {
  // Block 8 on a 4x4 grid: 5 tokens reach tile (0,0); 9 reach 2x2; 32 all.
  auto w = tileRunCounts({5, 9, 32}, 8, 4, 4);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ((*w)[0], 3); // (0, 0)
  EXPECT_EQ((*w)[1], 2); // (0, 1)
  EXPECT_EQ((*w)[1 * 4 + 1], 2);
  EXPECT_EQ((*w)[2 * 4 + 0], 1); // (2, 0): only the 32-token input
  EXPECT_EQ((*w)[3 * 4 + 3], 1);
  EXPECT_FALSE(tileRunCounts({33}, 8, 4, 4)); // longer than the grid
  EXPECT_FALSE(tileRunCounts({0}, 8, 4, 4));
  EXPECT_FALSE(tileRunCounts({5}, 0, 4, 4));
}

TEST(MatchedMasksTest, AsRunDensityIsTheFractionOfDenseTileWorkRun) {
  // Two inputs: 8 tokens (1 tile) and 16 tokens (4 tiles): dense runs 5.
  auto w = *tileRunCounts({8, 16}, 8, 2, 2);
  runtime::BlockMask m = *runtime::BlockMask::create(1, 2, 2, 8, 8);
  m.set(0, 0, 0, true); // runs twice
  EXPECT_DOUBLE_EQ(asRunDensity({m}, w), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.density(), 0.25); // nominal differs from as run
  m.set(0, 1, 1, true);                // runs once
  EXPECT_DOUBLE_EQ(asRunDensity({m}, w), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(asRunDensity({m, m}, w), 3.0 / 5.0); // layers average
}

TEST(MatchedMasksTest, RandomMaskMatchesEachHeadsAsRunWork) {
  const int64_t heads = 6, blocks = 8, block = 8;
  runtime::BlockMask like = topLeftMask(heads, blocks, block);
  auto w = *tileRunCounts(shortLengths(400, blocks * block, 7), block, blocks, blocks);
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto m = matchedRandomMask(like, w, /*keepDiagonal=*/true, /*minPerRow=*/1, seed);
    ASSERT_TRUE(m) << m.error().message();
    for (int64_t h = 0; h < heads; ++h) {
      // Within half the heaviest tile of the data mask's head.
      EXPECT_NEAR(headRunWeight(*m, h, w), headRunWeight(like, h, w), maxWeight(w) / 2)
          << "head " << h << " seed " << seed;
      for (int64_t b = 0; b < blocks; ++b)
        EXPECT_TRUE(m->get(h, b, b)) << "diagonal dropped";
    }
    // Over heads the errors do not pile up on one side: the model-wide
    // as-run density matches far closer than one heavy tile per head.
    EXPECT_NEAR(asRunDensity({*m}, w), asRunDensity({like}, w), 0.002);
  }
  auto a = *matchedRandomMask(like, w, true, 1, 5), b = *matchedRandomMask(like, w, true, 1, 5),
       c = *matchedRandomMask(like, w, true, 1, 6);
  EXPECT_TRUE(a == b);  // deterministic in the seed
  EXPECT_FALSE(a == c); // and the seed matters
}

TEST(MatchedMasksTest, RandomMaskDrawsOnlyTilesTheInputsRun) {
  // Inputs of at most 16 tokens on a 4x4 grid of 8-token tiles: only the
  // 2x2 corner runs. A random mask needing weight must take it from there.
  auto w = *tileRunCounts({16, 16, 12}, 8, 4, 4);
  runtime::BlockMask like = *runtime::BlockMask::create(1, 4, 4, 8, 8);
  like.set(0, 0, 0, true);
  like.set(0, 0, 1, true);
  like.set(0, 1, 0, true);
  for (uint64_t seed = 1; seed < 20; ++seed) {
    auto m = *matchedRandomMask(like, w, false, 0, seed);
    EXPECT_DOUBLE_EQ(headRunWeight(m, 0, w), headRunWeight(like, 0, w));
    EXPECT_EQ(m.countKept(), 3);
  }
}

TEST(MatchedMasksTest, RandomMaskSwapsTilesToCloseAGapOfHeavyTiles) {
  // Four tiles of weight 100 and three of 30; the data mask's 230 is two
  // heavy and one light. Orders that take the light tiles first end the
  // first pass at 190 with only heavy tiles left: closing the gap needs
  // a swap, then a drop. Every seed must land on 230 exactly.
  std::vector<double> w = {100, 100, 100, 100, 30, 30, 30, 0, 0};
  runtime::BlockMask like = *runtime::BlockMask::create(1, 3, 3, 8, 8);
  like.set(0, 0, 0, true);
  like.set(0, 0, 1, true);
  like.set(0, 1, 1, true);
  ASSERT_EQ(headRunWeight(like, 0, w), 230);
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    auto m = *matchedRandomMask(like, w, false, 0, seed);
    EXPECT_EQ(headRunWeight(m, 0, w), 230) << "seed " << seed;
  }
}

TEST(MatchedMasksTest, RandomMaskDrawsOnlyAllowedTiles) {
  // Allowed: the top-left 3x3 (the tiles calibration reached); the data
  // mask keeps all 9, so matching its weight leaves no choice.
  runtime::BlockMask like = *runtime::BlockMask::create(1, 4, 4, 4, 4);
  runtime::BlockMask allowed = like;
  for (int64_t q = 0; q < 3; ++q)
    for (int64_t k = 0; k < 3; ++k) {
      allowed.set(0, q, k, true);
      like.set(0, q, k, true);
    }
  std::vector<double> w(16, 1.0);
  for (uint64_t seed = 0; seed < 5; ++seed)
    EXPECT_EQ(*matchedRandomMask(like, w, false, 0, seed, &allowed), like) << seed;
  runtime::BlockMask wrongShape = *runtime::BlockMask::create(1, 3, 3, 4, 4);
  EXPECT_FALSE(matchedRandomMask(like, w, false, 0, 1, &wrongShape));
}

TEST(MatchedMasksTest, RandomMaskMinPerRowWithoutDiagonal) {
  // No diagonal: min-per-row 1 puts a random tile in every row the inputs
  // run, and the head still matches the data mask's weight.
  runtime::BlockMask like = *runtime::BlockMask::create(2, 6, 6, 4, 4);
  for (int64_t q = 0; q < 6; ++q) { // 9 tiles in head 0 and 6 in head 1
    like.set(0, q, 0, true);
    like.set(1, q, 5, true);
  }
  like.set(0, 0, 1, true);
  like.set(0, 0, 2, true);
  like.set(0, 0, 3, true);
  std::vector<double> w(36, 1.0);
  for (uint64_t seed = 1; seed < 6; ++seed) {
    auto r = *matchedRandomMask(like, w, false, 1, seed);
    for (int64_t h = 0; h < 2; ++h) {
      EXPECT_EQ(headRunWeight(r, h, w), headRunWeight(like, h, w));
      for (int64_t q = 0; q < 6; ++q) {
        int64_t row = 0;
        for (int64_t k = 0; k < 6; ++k)
          row += r.get(h, q, k);
        EXPECT_GE(row, 1) << "head " << h << " row " << q;
      }
    }
  }
}

TEST(MatchedMasksTest, EmptyHeadsStayEmpty) {
  runtime::BlockMask like = topLeftMask(3, 4, 8);
  like.setHead(1, false);
  auto w = *tileRunCounts({32, 20}, 8, 4, 4);
  auto r = *matchedRandomMask(like, w, true, 1, 3);
  auto p = *matchedPositionMask(like, w, 1);
  for (int64_t qb = 0; qb < 4; ++qb)
    for (int64_t kb = 0; kb < 4; ++kb) {
      EXPECT_FALSE(r.get(1, qb, kb));
      EXPECT_FALSE(p.get(1, qb, kb));
    }
}

TEST(MatchedMasksTest, PositionMaskIsSinkThenDiagonalBandOutwards) {
  // Every input fills the 6x6 grid: weights are uniform, so the head keeps
  // as many tiles as the data mask's and they are the sink column, then
  // the diagonal, then the sub-diagonal.
  const int64_t blocks = 6;
  auto w = *tileRunCounts({48, 48}, 8, blocks, blocks);
  runtime::BlockMask like = *runtime::BlockMask::create(1, blocks, blocks, 8, 8);
  // 6 (sink) + 5 (rest of the diagonal) + 3 tiles: 14.
  for (int64_t t = 0; t < 14; ++t)
    like.set(0, t / blocks, t % blocks, true);
  auto m = matchedPositionMask(like, w, /*sinkBlocks=*/1);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->countKept(), 14);
  for (int64_t qb = 0; qb < blocks; ++qb) {
    EXPECT_TRUE(m->get(0, qb, 0)) << "sink column, row " << qb;
    EXPECT_TRUE(m->get(0, qb, qb)) << "diagonal, row " << qb;
  }
  // Band 1 below the diagonal first, from the top: (2,1), (3,2), (4,3);
  // (1,0) is in the sink already.
  EXPECT_TRUE(m->get(0, 2, 1));
  EXPECT_TRUE(m->get(0, 3, 2));
  EXPECT_TRUE(m->get(0, 4, 3));
  EXPECT_FALSE(m->get(0, 5, 4));
  EXPECT_FALSE(m->get(0, 0, 1)); // above the diagonal comes after
  // No sink: the band starts at the diagonal.
  auto noSink = *matchedPositionMask(like, w, 0);
  EXPECT_FALSE(noSink.get(0, 5, 0));
  EXPECT_TRUE(noSink.get(0, 1, 0));
  EXPECT_TRUE(noSink.get(0, 0, 1));
}

TEST(MatchedMasksTest, PositionMaskMatchesAsRunWorkOnShortInputs) {
  const int64_t heads = 6, blocks = 8, block = 8;
  runtime::BlockMask like = topLeftMask(heads, blocks, block);
  auto w = *tileRunCounts(shortLengths(400, blocks * block, 11), block, blocks, blocks);
  auto m = matchedPositionMask(like, w, 1);
  ASSERT_TRUE(m) << m.error().message();
  for (int64_t h = 0; h < heads; ++h)
    EXPECT_NEAR(headRunWeight(*m, h, w), headRunWeight(like, h, w), maxWeight(w) / 2)
        << "head " << h;
}

TEST(MatchedMasksTest, RejectsBadArguments) {
  runtime::BlockMask like = topLeftMask(2, 4, 8);
  std::vector<double> wrong(15, 1.0), negative(16, -1.0), ok(16, 1.0);
  EXPECT_FALSE(matchedRandomMask(like, wrong, false, 0, 1));
  EXPECT_FALSE(matchedRandomMask(like, negative, false, 0, 1));
  EXPECT_FALSE(matchedRandomMask(like, ok, false, -1, 1));
  EXPECT_FALSE(matchedPositionMask(like, wrong, 1));
  EXPECT_FALSE(matchedPositionMask(like, ok, -1));
  runtime::BlockMask rect = *runtime::BlockMask::create(1, 4, 4, 8, 16);
  EXPECT_FALSE(matchedPositionMask(rect, ok, 1));
}

TEST(MatchedMasksTest, FairMaskSetsHoldDataSeedsAndPosition) {
  // Stats with mass in the top-left corner, as short inputs leave.
  AttentionStats stats = *AttentionStats::create(2, 4, 32, 32, 8, 8);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.1, 1.0);
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t qb = 0; qb < 4; ++qb)
        for (int64_t kb = 0; kb < 4; ++kb)
          stats.at(l, h, qb, kb) = u(rng) / (1 + qb + kb) / 4; // rows per block: 8
  for (LayerStats &layer : stats.layers)
    layer.rows.assign(4, 8);
  auto w = *tileRunCounts(shortLengths(200, 32, 5), 8, 4, 4);
  PruneOptions po;
  po.sparsity = 0.5;
  po.keepDiagonal = true;
  auto sets = fairMaskSets(stats, po, w, 5, 10, 1);
  ASSERT_TRUE(sets) << sets.error().message();
  ASSERT_EQ(sets->size(), 7u);
  EXPECT_EQ((*sets)[0].kind, "data");
  EXPECT_EQ((*sets)[1].kind, "random");
  EXPECT_EQ((*sets)[1].seed, 10u);
  EXPECT_EQ((*sets)[5].seed, 14u);
  EXPECT_EQ((*sets)[6].kind, "position");
  const double data = asRunDensity((*sets)[0].masks, w);
  // Each head within half the heaviest tile of the data mask's, so the
  // model-wide as-run density within that over one head's run tiles.
  double perHead = 0;
  for (double x : w)
    perHead += x;
  for (const MaskSet &s : *sets) {
    EXPECT_EQ(s.masks.size(), 2u);
    EXPECT_NEAR(asRunDensity(s.masks, w), data, maxWeight(w) / 2 / perHead)
        << s.kind << " " << s.seed;
  }
  EXPECT_FALSE((*sets)[1].masks[0] == (*sets)[2].masks[0]); // seeds differ
  EXPECT_FALSE(fairMaskSets(stats, po, w, -1, 1, 1));
}
