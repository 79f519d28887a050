//===- BlockMaskTest.cpp --------------------------------------------------===//
#include "sieve/runtime/BlockMask.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

using namespace sieve;
using namespace sieve::runtime;

TEST(BlockMask, PackingMatchesAttributeLayout) {
  // Bit n of the packed table is tile n in row-major (head, qblock, kblock)
  // order, bit n % 8 of byte n / 8: the same layout #sieve.block_mask prints.
  auto m = BlockMask::create(2, 2, 3, 64, 64);
  ASSERT_TRUE(m);
  m->set(0, 0, 0, true); // n = 0
  m->set(0, 1, 2, true); // n = 5
  m->set(1, 0, 2, true); // n = 8
  m->set(1, 1, 2, true); // n = 11
  ASSERT_EQ(m->packedBits().size(), 2u);
  EXPECT_EQ(m->packedBits()[0], 0x21);
  EXPECT_EQ(m->packedBits()[1], 0x09);
  EXPECT_EQ(m->countKept(), 4);
  m->set(0, 1, 2, false);
  EXPECT_EQ(m->packedBits()[0], 0x01);
}

TEST(BlockMask, CreateRejectsBadSizes) {
  for (auto [h, q, k, bq, bk] :
       std::vector<std::array<int64_t, 5>>{{0, 1, 1, 64, 64},
                                           {1, -1, 1, 64, 64},
                                           {1, 1, 1, 0, 64},
                                           {1, 1, 1, 64, -8},
                                           {int64_t(1) << 30, int64_t(1) << 30, 4, 64, 64}}) {
    auto m = BlockMask::create(h, q, k, bq, bk);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::MalformedMask);
  }
}

TEST(BlockMask, FromTileBytesRejectsNonBoolean) {
  std::vector<uint8_t> tiles = {1, 0, 0, 2};
  auto m = BlockMask::fromTileBytes(1, 2, 2, 16, 16, tiles.data());
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::MalformedMask);
  EXPECT_NE(m.error().message().find("tile 3 holds 2"), std::string::npos) << m.error().message();
}

TEST(BlockMask, RandomKeepsDiagonalAndHitsDensity) {
  BlockMask m = BlockMask::random(4, 64, 64, 32, 32, 0.2, 11, /*keepDiagonal=*/true);
  for (int64_t h = 0; h < 4; ++h)
    for (int64_t b = 0; b < 64; ++b)
      EXPECT_TRUE(m.get(h, b, b));
  // 64 diagonal tiles forced, the other 4032 per head kept at 0.2.
  double expected = (64 + 0.2 * (64 * 64 - 64)) / (64.0 * 64);
  EXPECT_NEAR(m.density(), expected, 0.02);
  EXPECT_EQ(m, BlockMask::random(4, 64, 64, 32, 32, 0.2, 11, true)); // seeded
  EXPECT_FALSE(m == BlockMask::random(4, 64, 64, 32, 32, 0.2, 12, true));
}

TEST(BlockMask, RandomExactKeepsExactlyTheDensityDiagonalIncluded) {
  // random() keeps the diagonal on top of the density (0.25 came out as
  // 0.286 from `sieve mask`); randomExact() counts it in.
  auto m = BlockMask::randomExact(4, 16, 16, 64, 64, 0.25, 1, /*keepDiagonal=*/true);
  ASSERT_TRUE(m) << m.error().message();
  for (int64_t h = 0; h < 4; ++h) {
    int64_t kept = 0;
    for (int64_t q = 0; q < 16; ++q)
      for (int64_t k = 0; k < 16; ++k)
        kept += m->get(h, q, k);
    EXPECT_EQ(kept, 64) << "head " << h;
    for (int64_t b = 0; b < 16; ++b)
      EXPECT_TRUE(m->get(h, b, b));
  }
  EXPECT_DOUBLE_EQ(m->density(), 0.25);
  auto again = BlockMask::randomExact(4, 16, 16, 64, 64, 0.25, 1, true);
  ASSERT_TRUE(again);
  EXPECT_EQ(*m, *again); // seeded
  // Without the diagonal: still exact, and rounded per head (0.3 x 49 = 14.7).
  auto free = BlockMask::randomExact(2, 7, 7, 16, 16, 0.3, 5, false);
  ASSERT_TRUE(free);
  EXPECT_EQ(free->countKept(), 2 * 15);
  for (double d : {0.0, 1.0}) {
    auto edge = BlockMask::randomExact(1, 5, 3, 16, 16, d, 2, false);
    ASSERT_TRUE(edge);
    EXPECT_EQ(edge->countKept(), d == 0.0 ? 0 : 15);
  }
}

TEST(BlockMask, RandomExactKeepsTheDiagonalWhenItIsMoreThanTheDensity) {
  auto m = BlockMask::randomExact(2, 16, 16, 64, 64, 0.05, 1, /*keepDiagonal=*/true);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->countKept(), 2 * 16);
  for (int64_t b = 0; b < 16; ++b)
    EXPECT_TRUE(m->get(1, b, b));
  EXPECT_FALSE(BlockMask::randomExact(1, 2, 2, 16, 16, 1.5, 1, false));
  EXPECT_FALSE(BlockMask::randomExact(1, 2, 2, 16, 16, std::nan(""), 1, false));
}

TEST(BlockMask, DiagonalWithUnequalBlocks) {
  // block_q 32, block_k 64: query block 3 (rows 96..127) meets key block 1 only.
  BlockMask m = BlockMask::random(1, 4, 2, 32, 64, 0.0, 1, true);
  EXPECT_TRUE(m.get(0, 3, 1));
  EXPECT_FALSE(m.get(0, 3, 0));
  EXPECT_TRUE(m.get(0, 0, 0));
  EXPECT_FALSE(m.get(0, 0, 1));
}

TEST(BlockMask, CheckCoversNamesBothShapes) {
  auto m = BlockMask::create(8, 4, 4, 64, 64);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->checkCovers(8, 256, 200)); // 200 keys -> 4 partial blocks: fine
  Error e = m->checkCovers(8, 256, 257);
  ASSERT_TRUE(e);
  EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  EXPECT_NE(e.message().find("[8, 4, 4]"), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("[8, 4, 5]"), std::string::npos) << e.message();
  EXPECT_TRUE(m->checkCovers(4, 256, 256));
}

TEST(BlockMask, SetHeadEmptiesAHead) {
  BlockMask m = BlockMask::random(3, 8, 8, 16, 16, 1.0, 3, false);
  m.setHead(1, false);
  for (int64_t q = 0; q < 8; ++q)
    for (int64_t k = 0; k < 8; ++k) {
      EXPECT_TRUE(m.get(0, q, k));
      EXPECT_FALSE(m.get(1, q, k));
      EXPECT_TRUE(m.get(2, q, k));
    }
}
