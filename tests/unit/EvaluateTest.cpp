//===- EvaluateTest.cpp - sieve evaluate's math: cosine, top-1, random masks ===//
#include "sieve/calibration/Evaluate.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace sieve;
using namespace sieve::calibration;

TEST(EvaluateTest, CosineOfKnownVectors) {
  EXPECT_DOUBLE_EQ(cosine({1, 0}, {1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(cosine({1, 0}, {0, 2}), 0.0);
  EXPECT_DOUBLE_EQ(cosine({1, 0}, {-3, 0}), -1.0);
  EXPECT_NEAR(cosine({1, 1}, {1, 0}), std::sqrt(0.5), 1e-12);
  EXPECT_DOUBLE_EQ(cosine({0, 0}, {1, 0}), 0.0); // zero vector: 0, not NaN
}

TEST(EvaluateTest, MeanCosineAveragesPairs) {
  Embeddings a = {{1, 0}, {0, 1}}, b = {{1, 0}, {1, 0}};
  auto m = meanCosine(a, b);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_DOUBLE_EQ(*m, 0.5);
  EXPECT_FALSE(meanCosine(a, {{1, 0}}));            // sizes differ
  EXPECT_FALSE(meanCosine(a, {{1, 0}, {1, 0, 0}})); // lengths differ
  EXPECT_FALSE(meanCosine({}, {}));
}

TEST(EvaluateTest, NearestNeighboursExcludeSelfAndBreakTiesLow) {
  // 0 and 1 close, 2 and 3 close; 4 equally close to 0 and 1 (tie: 0).
  Embeddings e = {{1, 0.1f}, {1, 0.2f}, {-1, 0.1f}, {-1, 0.3f}, {1, 0.15f}};
  std::vector<int64_t> nn = nearestNeighbours(e);
  EXPECT_EQ(nn[2], 3);
  EXPECT_EQ(nn[3], 2);
  for (size_t i = 0; i < nn.size(); ++i)
    EXPECT_NE(nn[i], static_cast<int64_t>(i));
  Embeddings tie = {{1, 0}, {1, 0}, {1, 0}};
  EXPECT_EQ(nearestNeighbours(tie), (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(nearestNeighbours({{1, 0}}), (std::vector<int64_t>{-1}));
}

TEST(EvaluateTest, Top1AgreementCountsSameNeighbour) {
  Embeddings dense = {{1, 0}, {0.9f, 0.1f}, {0, 1}, {0.1f, 0.9f}};
  auto same = top1Agreement(dense, dense);
  ASSERT_TRUE(same);
  EXPECT_DOUBLE_EQ(*same, 1.0);
  // Move sentence 3 next to 0 and 1: its own neighbour changes (2 -> 1), and
  // 2's neighbour changes (3 -> 0 or 1, whichever is nearer); 0 and 1 keep theirs.
  Embeddings pruned = dense;
  pruned[3] = {0.95f, 0.05f};
  auto t = top1Agreement(dense, pruned);
  ASSERT_TRUE(t);
  std::vector<int64_t> a = nearestNeighbours(dense), b = nearestNeighbours(pruned);
  int64_t agree = 0;
  for (size_t i = 0; i < a.size(); ++i)
    agree += a[i] == b[i];
  EXPECT_DOUBLE_EQ(*t, agree / 4.0);
  EXPECT_LT(*t, 1.0);
  EXPECT_FALSE(top1Agreement({{1, 0}}, {{1, 0}}));
}

static int64_t keptInHead(const runtime::BlockMask &m, int64_t h) {
  int64_t n = 0;
  for (int64_t q = 0; q < m.queryBlocks(); ++q)
    for (int64_t k = 0; k < m.keyBlocks(); ++k)
      n += m.get(h, q, k);
  return n;
}

TEST(EvaluateTest, RandomMaskKeepsPerHeadCountAndRules) {
  const int64_t H = 4, QB = 8, KB = 8;
  auto like = runtime::BlockMask::create(H, QB, KB, 8, 8);
  ASSERT_TRUE(like);
  // Head 0: 20 tiles in the top-left; head 1: everything; head 2: empty
  // (a pruned head); head 3: only the diagonal plus one (min-per-row 1 adds
  // nothing where the diagonal already fills each row).
  for (int64_t t = 0; t < 20; ++t)
    like->set(0, t / 5, t % 5, true);
  like->setHead(1, true);
  for (int64_t q = 0; q < QB; ++q)
    like->set(3, q, q, true);
  like->set(3, 0, 7, true);
  for (uint64_t seed : {1u, 2u, 3u}) {
    runtime::BlockMask r = randomMaskLike(*like, /*keepDiagonal=*/true, /*minPerRow=*/1, seed);
    EXPECT_EQ(r.heads(), H);
    EXPECT_EQ(r.blockQ(), 8);
    for (int64_t h = 0; h < H; ++h)
      EXPECT_EQ(keptInHead(r, h), keptInHead(*like, h)) << "head " << h << " seed " << seed;
    for (int64_t h : {0, 1, 3})
      for (int64_t q = 0; q < QB; ++q)
        EXPECT_TRUE(r.get(h, q, q)) << "diagonal, head " << h;
    // Deterministic in the seed; another seed draws other tiles.
    EXPECT_EQ(r, randomMaskLike(*like, true, 1, seed));
  }
  EXPECT_FALSE(randomMaskLike(*like, true, 1, 1) == randomMaskLike(*like, true, 1, 2));
}

TEST(EvaluateTest, RandomMaskMinPerRowWithoutDiagonal) {
  auto like = runtime::BlockMask::create(2, 6, 6, 4, 4);
  ASSERT_TRUE(like);
  for (int64_t q = 0; q < 6; ++q) { // 9 tiles in head 0 and 6 in head 1
    like->set(0, q, 0, true);
    like->set(1, q, 5, true);
  }
  like->set(0, 0, 1, true);
  like->set(0, 0, 2, true);
  like->set(0, 0, 3, true);
  runtime::BlockMask r = randomMaskLike(*like, false, 1, 7);
  for (int64_t h = 0; h < 2; ++h) {
    EXPECT_EQ(keptInHead(r, h), keptInHead(*like, h));
    for (int64_t q = 0; q < 6; ++q) {
      int64_t row = 0;
      for (int64_t k = 0; k < 6; ++k)
        row += r.get(h, q, k);
      EXPECT_GE(row, 1) << "head " << h << " row " << q;
    }
  }
}

TEST(EvaluateTest, NormalizeByCoverageDividesByReachingRows) {
  // One layer, one head, grid of 2x2 tiles of 2 tokens; sentences of 4 and 2
  // tokens: tile (0,0) is reached by 2+2 rows, (0,1) and (1,*) by 2 rows.
  auto s = AttentionStats::create(1, 1, 4, 4, 2, 2);
  ASSERT_TRUE(s);
  s->layers[0].rows = {4, 2};
  s->at(0, 0, 0, 0) = 3.0;
  s->at(0, 0, 0, 1) = 1.0;
  s->at(0, 0, 1, 0) = 1.0;
  s->at(0, 0, 1, 1) = 1.0;
  auto n = normalizeByCoverage(*s, {4, 2});
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_DOUBLE_EQ(n->at(0, 0, 0, 0), 3.0 / 4 / 2);
  EXPECT_DOUBLE_EQ(n->at(0, 0, 0, 1), 1.0 / 2 / 2);
  EXPECT_DOUBLE_EQ(n->at(0, 0, 1, 0), 1.0 / 2 / 2);
  EXPECT_DOUBLE_EQ(n->at(0, 0, 1, 1), 1.0 / 2 / 2);
}

TEST(EvaluateTest, TileCrossesDiagonal) {
  EXPECT_TRUE(tileCrossesDiagonal(0, 0, 8, 8));
  EXPECT_FALSE(tileCrossesDiagonal(0, 1, 8, 8));
  EXPECT_FALSE(tileCrossesDiagonal(1, 0, 16, 8)); // rows 16-31, keys 0-7
  EXPECT_TRUE(tileCrossesDiagonal(1, 2, 16, 8));  // rows 16-31, keys 16-23
  EXPECT_FALSE(tileCrossesDiagonal(1, 3, 8, 8));
}

TEST(EvaluateTest, RandomMaskDrawsOnlyAllowedTiles) {
  auto like = runtime::BlockMask::create(1, 4, 4, 4, 4);
  auto allowed = runtime::BlockMask::create(1, 4, 4, 4, 4);
  ASSERT_TRUE(like && allowed);
  // Allowed: the top-left 3x3; the like mask keeps all 9 of them.
  for (int64_t q = 0; q < 3; ++q)
    for (int64_t k = 0; k < 3; ++k) {
      allowed->set(0, q, k, true);
      like->set(0, q, k, true);
    }
  for (uint64_t seed = 0; seed < 5; ++seed)
    EXPECT_EQ(randomMaskLike(*like, false, 0, seed, &*allowed), *like) << seed;
}

TEST(EvaluateTest, RetrievalRanksCountDocumentsScoringHigher) {
  // Query 0 is closest to its own document; query 1 is closer to documents
  // 0 and 2 than to its own; query 2 has document 1 above its own.
  Embeddings queries = {{1, 0}, {1, 0.1f}, {0.1f, 1}};
  Embeddings documents = {{1, 0.05f}, {0, 1}, {0.8f, 0.6f}};
  auto ranks = retrievalRanks(queries, documents);
  ASSERT_TRUE(ranks) << ranks.error().message();
  EXPECT_EQ(*ranks, (std::vector<int64_t>{1, 3, 2}));
  // Identical embeddings: every query finds its own document first.
  auto self = retrievalRanks(documents, documents);
  EXPECT_EQ(*self, (std::vector<int64_t>{1, 1, 1}));
  EXPECT_FALSE(retrievalRanks(queries, {{1, 0}})); // sizes differ
  EXPECT_FALSE(retrievalRanks({}, {}));
}
