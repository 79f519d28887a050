//===- ReferenceBackwardTest.cpp - the float64 gradients by finite differences ===//
//
// referenceAttentionBackward against central differences of the forward
// reference's loss sum(dout * out), element by element, for every element
// of q, k and v: GQA, causal and not, Sq and Sk not multiples of the tiles,
// an empty row and an empty head. Inputs are multiples of 1/64 and the step
// is 2^-10, so every perturbed input is exact in f32 and the differences
// are limited only by their O(step^2) truncation. Also: the log-sum-exp per
// row against a direct sum, -inf and zero gradients where no key is kept.
//
//===----------------------------------------------------------------------===//
#include "sieve/testing/ReferenceBackward.h"
#include "sieve/testing/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

using namespace sieve::runtime;
using namespace sieve::testing;

namespace {

std::vector<float> gridValues(size_t n, std::mt19937_64 &rng) {
  std::normal_distribution<double> normal;
  std::vector<float> x(n);
  for (float &v : x)
    v = static_cast<float>(std::round(std::clamp(normal(rng), -2.0, 2.0) * 64) / 64);
  return x;
}

double loss(const ProblemShape &s, const BlockMask &mask, bool causal, double scale,
            const std::vector<float> &q, const std::vector<float> &k, const std::vector<float> &v,
            const std::vector<float> &dout) {
  std::vector<double> out =
      referenceAttention(s, mask, causal, scale, q.data(), k.data(), v.data());
  double l = 0;
  for (size_t i = 0; i < out.size(); ++i)
    l += double(dout[i]) * out[i];
  return l;
}

class ReferenceBackward : public ::testing::TestWithParam<bool /*causal*/> {};

TEST_P(ReferenceBackward, MatchesFiniteDifferences) {
  const bool causal = GetParam();
  const int64_t B = 1, Hq = 4, Hkv = 2, Sq = 13, Sk = 11, D = 8, bq = 4, bk = 4;
  const ProblemShape s{B, Hq, Hkv, Sq, Sk, D, DType::F32};
  const double scale = 1 / std::sqrt(double(D));
  const uint64_t seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  BlockMask mask = BlockMask::random(Hq, 4, 3, bq, bk, 0.6, rng(), /*keepDiagonal=*/true);
  for (int64_t kb = 0; kb < 3; ++kb)
    mask.set(0, 1, kb, false); // an empty row in head 0
  mask.setHead(3, false);      // an empty head sharing key head 1 with head 2
  std::vector<float> q = gridValues(B * Hq * Sq * D, rng), k = gridValues(B * Hkv * Sk * D, rng),
                     v = gridValues(B * Hkv * Sk * D, rng), dout = gridValues(q.size(), rng);
  AttentionGradients g =
      referenceAttentionBackward(s, mask, causal, scale, q.data(), k.data(), v.data(), dout.data());

  const float step = 1.0f / 1024;
  double worst = 0, norm = 0;
  int64_t checked = 0;
  auto check = [&](std::vector<float> &x, const std::vector<double> &grad, const char *name) {
    for (size_t n = 0; n < x.size(); ++n) {
      const float saved = x[n];
      x[n] = saved + step;
      double up = loss(s, mask, causal, scale, q, k, v, dout);
      x[n] = saved - step;
      double down = loss(s, mask, causal, scale, q, k, v, dout);
      x[n] = saved;
      double fd = (up - down) / (2.0 * step);
      worst = std::max(worst, std::fabs(fd - grad[n]));
      norm = std::max(norm, std::fabs(grad[n]));
      ++checked;
      ASSERT_NEAR(grad[n], fd, 2e-5 + 1e-4 * std::fabs(fd)) << name << "[" << n << "]";
    }
  };
  check(q, g.dq, "dq");
  check(k, g.dk, "dk");
  check(v, g.dv, "dv");
  EXPECT_GT(norm, 0.01) << "the gradients are all (near) zero: nothing was checked";
  char worstText[32];
  std::snprintf(worstText, sizeof worstText, "%.3e", worst);
  RecordProperty("worst_abs_difference", worstText);
  RecordProperty("elements_checked", std::to_string(checked));

  // Log-sum-exp per row, and the rows that keep no key.
  for (int64_t h = 0; h < Hq; ++h)
    for (int64_t i = 0; i < Sq; ++i) {
      double m = -INFINITY;
      std::vector<double> scores;
      for (int64_t j = 0; j < Sk; ++j) {
        if (!mask.get(h, i / bq, j / bk) || (causal && j > i))
          continue;
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += double(q[(h * Sq + i) * D + d]) * k[((h / 2) * Sk + j) * D + d];
        scores.push_back(scale * dot);
        m = std::max(m, scores.back());
      }
      double lse = g.lse[h * Sq + i];
      if (scores.empty()) {
        EXPECT_EQ(lse, -INFINITY) << "h" << h << " row " << i;
        for (int64_t d = 0; d < D; ++d)
          ASSERT_EQ(g.dq[(h * Sq + i) * D + d], 0.0) << "h" << h << " row " << i;
        continue;
      }
      double sum = 0;
      for (double x : scores)
        sum += std::exp(x - m);
      EXPECT_NEAR(lse, m + std::log(sum), 1e-12) << "h" << h << " row " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Masks, ReferenceBackward, ::testing::Bool(),
                         [](const auto &info) { return info.param ? "causal" : "full"; });

} // namespace
