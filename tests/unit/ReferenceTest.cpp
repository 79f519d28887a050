//===- ReferenceTest.cpp - the float64 reference checked against itself ----===//
//
// Every kernel is judged against referenceAttention, so it gets its own
// checks: cases with a known answer, and a naive loop written independently.
//
//===----------------------------------------------------------------------===//
#include "sieve/testing/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

using namespace sieve;
using namespace sieve::runtime;
using namespace sieve::testing;

namespace {

std::vector<float> randomNormal(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float &x : v)
    x = normal(rng);
  return v;
}

// Textbook attention, element by element, in long double.
std::vector<double> naiveAttention(const ProblemShape &s, const BlockMask &m, bool causal,
                                   double scale, const std::vector<float> &q,
                                   const std::vector<float> &k, const std::vector<float> &v) {
  std::vector<double> out(q.size(), 0.0);
  int64_t group = s.headsQ / s.headsKv;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.headsQ; ++h)
      for (int64_t i = 0; i < s.seqQ; ++i) {
        int64_t hk = h / group;
        std::vector<long double> p(s.seqK, 0);
        long double maxScore = -INFINITY, sum = 0;
        std::vector<bool> kept(s.seqK);
        for (int64_t j = 0; j < s.seqK; ++j) {
          kept[j] = m.get(h, i / m.blockQ(), j / m.blockK()) && (!causal || j <= i);
          if (!kept[j])
            continue;
          long double dot = 0;
          for (int64_t d = 0; d < s.headDim; ++d)
            dot += (long double)q[((b * s.headsQ + h) * s.seqQ + i) * s.headDim + d] *
                   k[((b * s.headsKv + hk) * s.seqK + j) * s.headDim + d];
          p[j] = dot * scale;
          maxScore = std::max(maxScore, p[j]);
        }
        for (int64_t j = 0; j < s.seqK; ++j)
          if (kept[j])
            sum += p[j] = std::exp(p[j] - maxScore);
        for (int64_t d = 0; d < s.headDim; ++d) {
          long double acc = 0;
          for (int64_t j = 0; j < s.seqK; ++j)
            if (kept[j])
              acc += p[j] * v[((b * s.headsKv + hk) * s.seqK + j) * s.headDim + d];
          out[((b * s.headsQ + h) * s.seqQ + i) * s.headDim + d] =
              sum > 0 ? double(acc / sum) : 0.0;
        }
      }
  return out;
}

} // namespace

TEST(Reference, MatchesNaiveLoopWithGqaCausalAndPartialTiles) {
  ProblemShape s{2, 4, 2, 37, 53, 16, DType::F32};
  BlockMask m = BlockMask::random(4, 5, 7, 8, 8, 0.4, 3, false);
  m.setHead(3, false);
  auto q = randomNormal(s.batch * s.headsQ * s.seqQ * s.headDim, 1);
  auto k = randomNormal(s.batch * s.headsKv * s.seqK * s.headDim, 2);
  auto v = randomNormal(s.batch * s.headsKv * s.seqK * s.headDim, 3);
  for (bool causal : {false, true}) {
    auto ref = referenceAttention(s, m, causal, 0.3, q.data(), k.data(), v.data());
    auto naive = naiveAttention(s, m, causal, 0.3, q, k, v);
    ASSERT_EQ(ref.size(), naive.size());
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_NEAR(ref[i], naive[i], 1e-12 * (1 + std::fabs(naive[i]))) << i << " causal " << causal;
  }
}

TEST(Reference, SingleKeptKeyCopiesItsValueAndEmptyRowsAreZero) {
  // One head, 4 queries, 4 keys in 1x1 tiles: row i keeps only key 3 - i;
  // row 2 keeps nothing.
  ProblemShape s{1, 1, 1, 4, 4, 3, DType::F32};
  auto m = BlockMask::create(1, 4, 4, 1, 1);
  ASSERT_TRUE(m);
  for (int i : {0, 1, 3})
    m->set(0, i, 3 - i, true);
  auto q = randomNormal(12, 4), k = randomNormal(12, 5), v = randomNormal(12, 6);
  auto ref = referenceAttention(s, *m, false, 1.0, q.data(), k.data(), v.data());
  for (int i : {0, 1, 3})
    for (int d = 0; d < 3; ++d)
      EXPECT_DOUBLE_EQ(ref[i * 3 + d], v[(3 - i) * 3 + d]);
  for (int d = 0; d < 3; ++d)
    EXPECT_EQ(ref[2 * 3 + d], 0.0);
}

// The tile mass of a row sums to 1 over its kept tiles (0 for a row that
// keeps none), and a tile holding a single kept key of a row takes that
// row's whole mass: checked per (head, query block) on GQA, causal and an
// empty head; partial tiles at both edges.
TEST(Reference, TileMassSumsToTheRowsThatSawAKey) {
  ProblemShape s{2, 4, 2, 37, 53, 16, DType::F32};
  BlockMask m = BlockMask::random(4, 5, 7, 8, 8, 0.4, 3, /*keepDiagonal=*/true);
  m.setHead(3, false);
  auto q = randomNormal(s.batch * s.headsQ * s.seqQ * s.headDim, 7);
  auto k = randomNormal(s.batch * s.headsKv * s.seqK * s.headDim, 8);
  for (bool causal : {false, true}) {
    std::vector<double> mass = referenceTileMass(s, m, causal, 0.3, q.data(), k.data());
    ASSERT_EQ(mass.size(), size_t(4 * 5 * 7));
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t qb = 0; qb < 5; ++qb) {
        // Rows of this block (per batch entry) that keep at least one key.
        int64_t rows = 0;
        for (int64_t i = qb * 8; i < std::min<int64_t>(s.seqQ, qb * 8 + 8); ++i)
          for (int64_t j = 0; j < s.seqK; ++j)
            if (m.get(h, qb, j / 8) && (!causal || j <= i)) {
              ++rows;
              break;
            }
        double total = 0;
        for (int64_t kb = 0; kb < 7; ++kb) {
          double x = mass[(h * 5 + qb) * 7 + kb];
          EXPECT_GE(x, 0.0);
          if (!m.get(h, qb, kb))
            EXPECT_EQ(x, 0.0) << "a dropped tile got mass";
          total += x;
        }
        EXPECT_NEAR(total, double(s.batch * rows), 1e-9) << "h " << h << " qb " << qb;
      }
  }
}

TEST(Reference, RelativeErrorSeesNaNAndScale) {
  std::vector<double> ref = {1.0, -2.0, 0.5};
  std::vector<float> same = {1.0f, -2.0f, 0.5f};
  EXPECT_EQ(relativeError(same.data(), ref), 0.0);
  std::vector<float> off = {1.0f, -2.0f, 0.5f + 0.03f}; // |diff| = 0.03, ||ref|| = sqrt(5.25)
  EXPECT_NEAR(relativeError(off.data(), ref), 0.03 / std::sqrt(5.25), 1e-7);
  std::vector<float> nan = {1.0f, std::numeric_limits<float>::quiet_NaN(), 0.5f};
  EXPECT_TRUE(std::isnan(relativeError(nan.data(), ref)));
}
