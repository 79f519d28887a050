//===- EvaluateTest.cpp - sieve evaluate's math: cosine, top-1, retrieval ranks ===//
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
