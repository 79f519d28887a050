//===- Thresholds.cpp -----------------------------------------------------===//
#include "sieve/testing/Thresholds.h"

#include <algorithm>
#include <cassert>

namespace sieve::testing {

std::vector<float> headScores(const runtime::ProblemShape &s, double scale, const float *q,
                              const float *k, int64_t head) {
  const int64_t D = s.headDim, kvh = head / (s.headsQ / s.headsKv);
  std::vector<float> scores;
  scores.reserve(static_cast<size_t>(s.batch * s.seqQ * s.seqK));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t i = 0; i < s.seqQ; ++i)
      for (int64_t j = 0; j < s.seqK; ++j) {
        const float *qi = q + ((b * s.headsQ + head) * s.seqQ + i) * D;
        const float *kj = k + ((b * s.headsKv + kvh) * s.seqK + j) * D;
        double dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += double(qi[d]) * double(kj[d]);
        scores.push_back(float(scale * dot));
      }
  return scores;
}

float thresholdInGap(std::vector<float> x, double p) {
  assert(x.size() >= 12 && p > 0 && p < 1);
  std::sort(x.begin(), x.end());
  const size_t last = x.size() - 2; // the last gap's lower rank
  const size_t at = std::min(static_cast<size_t>(p * double(x.size() - 1)), last);
  // The widest gap among a window of ranks that grows with the count: a
  // few thousand scores near a quantile are a few 1e-5 apart, and the
  // widest of a hundred gaps leaves several times that on each side.
  const size_t window = std::max<size_t>(5, x.size() / 200);
  size_t best = at;
  for (size_t c = at >= window ? at - window : 0; c <= std::min(at + window, last); ++c)
    if (x[c + 1] - x[c] > x[best + 1] - x[best])
      best = c;
  return 0.5f * (x[best] + x[best + 1]);
}

void dampKeyBlocks(std::vector<float> &k, const runtime::ProblemShape &s, int64_t blockK,
                   int64_t period) {
  const int64_t D = s.headDim;
  for (int64_t bh = 0; bh < s.batch * s.headsKv; ++bh)
    for (int64_t j = 0; j < s.seqK; ++j)
      if ((j / blockK) % period == 0)
        for (int64_t d = 0; d < D; ++d)
          k[static_cast<size_t>((bh * s.seqK + j) * D + d)] *= 1.0f / 64;
}

} // namespace sieve::testing
