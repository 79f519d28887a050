//===- Reference.cpp ------------------------------------------------------===//
#include "sieve/testing/Reference.h"

#include "ReferenceTiles.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

namespace sieve::testing {

using runtime::BlockMask;
using runtime::ProblemShape;

using reference::ConstFloatMap;
using reference::Matrix;

namespace {

// One (batch, head) slice, per query block: the keys of its kept tiles are
// gathered (so a sparse mask costs its kept tiles, not S x S), scores in
// float64, keys after the query's position set to -inf under causal,
// softmax, times V.
void referenceHead(const ProblemShape &s, const BlockMask &mask, CausalMode causal, double scale,
                   const float *q, const float *k, const float *v, const float *thresholds,
                   int64_t b, int64_t h, double *out, std::atomic<int64_t> &scoresKept) {
  const int64_t D = s.headDim, group = s.headsQ / s.headsKv;
  const double negInf = -std::numeric_limits<double>::infinity();
  int64_t kvh = h / group;
  const float *qHead = q + (b * s.headsQ + h) * s.seqQ * D;
  const float *kHead = k + (b * s.headsKv + kvh) * s.seqK * D;
  const float *vHead = v + (b * s.headsKv + kvh) * s.seqK * D;
  Matrix K = ConstFloatMap(kHead, s.seqK, D).cast<double>();
  Matrix V = ConstFloatMap(vHead, s.seqK, D).cast<double>();
  for (int64_t qb = 0; qb < mask.queryBlocks(); ++qb) {
    int64_t i0 = qb * mask.blockQ(), i1 = std::min(s.seqQ, i0 + mask.blockQ());
    double *dst = out + ((b * s.headsQ + h) * s.seqQ + i0) * D;
    std::vector<int64_t> keys = reference::keptKeys(mask, h, qb, s.seqK);
    if (keys.empty()) { // no kept key: zeros
      Eigen::Map<Matrix>(dst, i1 - i0, D).setZero();
      continue;
    }
    Matrix Q = ConstFloatMap(qHead + i0 * D, i1 - i0, D).cast<double>();
    Matrix Kk = K(keys, Eigen::all), Vk = V(keys, Eigen::all);
    Matrix S = (Q * Kk.transpose()) * scale;
    reference::maskCausal(S, i0, keys, causal, s.seqQ, s.seqK);
    if (thresholds) // threshold mode: scores under the head's threshold are dropped
      S = (S.array() < double(thresholds[h])).select(negInf, S);
    scoresKept += (S.array() != negInf).count();
    reference::softmaxRows(S); // a row with every kept key after it: zeros
    Eigen::Map<Matrix>(dst, i1 - i0, D) = S * Vk;
  }
}

} // namespace

std::vector<double> referenceAttention(const ProblemShape &s, const BlockMask &mask,
                                       CausalMode causal, double scale, const float *q,
                                       const float *k, const float *v, const float *thresholds,
                                       int64_t *scoresKept) {
  std::vector<double> out(static_cast<size_t>(s.batch * s.headsQ * s.seqQ * s.headDim), 0.0);
  std::atomic<int64_t> kept{0};
  reference::forEachSlice(s.batch * s.headsQ, [&](int64_t n) {
    referenceHead(s, mask, causal, scale, q, k, v, thresholds, n / s.headsQ, n % s.headsQ,
                  out.data(), kept);
  });
  if (scoresKept)
    *scoresKept = kept;
  return out;
}

std::vector<double> referenceTileMass(const ProblemShape &s, const BlockMask &mask,
                                      CausalMode causal, double scale, const float *q,
                                      const float *k) {
  const int64_t D = s.headDim, group = s.headsQ / s.headsKv;
  const int64_t QB = mask.queryBlocks(), KB = mask.keyBlocks();
  std::vector<double> mass(static_cast<size_t>(s.headsQ * QB * KB), 0.0);
  std::vector<double> e(static_cast<size_t>(s.seqK));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.headsQ; ++h)
      for (int64_t i = 0; i < s.seqQ; ++i) {
        const float *qi = q + ((b * s.headsQ + h) * s.seqQ + i) * D;
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int64_t j = 0; j < s.seqK; ++j) {
          e[j] = -std::numeric_limits<double>::infinity();
          if (!mask.get(h, i / mask.blockQ(), j / mask.blockK()) ||
              causal.hides(i, j, s.seqQ, s.seqK))
            continue;
          const float *kj = k + ((b * s.headsKv + h / group) * s.seqK + j) * D;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += double(qi[d]) * double(kj[d]);
          e[j] = scale * dot;
          mx = std::max(mx, e[j]);
        }
        if (mx == -std::numeric_limits<double>::infinity())
          continue;
        for (double &x : e)
          sum += (x = std::exp(x - mx));
        for (int64_t j = 0; j < s.seqK; ++j)
          mass[static_cast<size_t>((h * QB + i / mask.blockQ()) * KB + j / mask.blockK())] +=
              e[j] / sum;
      }
  return mass;
}

double relativeError(const float *out, const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(out[i]))
      return std::numeric_limits<double>::quiet_NaN();
    double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

NonFiniteComparison compareNonFinite(const float *out, const std::vector<double> &ref) {
  // NaN, +Inf, -Inf or finite: the class an element falls in.
  auto kind = [](double x) { return std::isnan(x) ? 0 : std::isinf(x) ? (x > 0 ? 1 : 2) : 3; };
  NonFiniteComparison c;
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    int want = kind(ref[i]), got = kind(double(out[i]));
    c.nonFiniteInReference += want != 3;
    if (want != got) {
      if (c.firstMismatch < 0)
        c.firstMismatch = static_cast<int64_t>(i);
      ++c.mismatched;
    } else if (want == 3) {
      ++c.finite;
      double d = double(out[i]) - ref[i];
      num += d * d;
      den += ref[i] * ref[i];
    }
  }
  c.finiteRelativeError = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return c;
}

} // namespace sieve::testing
