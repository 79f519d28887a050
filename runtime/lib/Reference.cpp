//===- Reference.cpp ------------------------------------------------------===//
#include "sieve/runtime/Reference.h"

#include <Eigen/Dense>

#include <cmath>
#include <limits>

namespace sieve::runtime {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstFloatMap =
    Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

std::vector<double> referenceAttention(const ProblemShape &s, const BlockMask &mask, bool causal,
                                       double scale, const float *q, const float *k,
                                       const float *v) {
  const int64_t D = s.headDim, group = s.headsQ / s.headsKv;
  std::vector<double> out(static_cast<size_t>(s.batch * s.headsQ * s.seqQ * D), 0.0);
  const double negInf = -std::numeric_limits<double>::infinity();
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.headsQ; ++h) {
      int64_t kvh = h / group;
      const float *qHead = q + (b * s.headsQ + h) * s.seqQ * D;
      const float *kHead = k + (b * s.headsKv + kvh) * s.seqK * D;
      const float *vHead = v + (b * s.headsKv + kvh) * s.seqK * D;
      Matrix K = ConstFloatMap(kHead, s.seqK, D).cast<double>();
      Matrix V = ConstFloatMap(vHead, s.seqK, D).cast<double>();
      for (int64_t qb = 0; qb < mask.queryBlocks(); ++qb) {
        int64_t i0 = qb * mask.blockQ(), i1 = std::min(s.seqQ, i0 + mask.blockQ());
        Matrix Q = ConstFloatMap(qHead + i0 * D, i1 - i0, D).cast<double>();
        Matrix S = (Q * K.transpose()) * scale;
        // Allowed: kept tile, and j <= i under causal.
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = 0; j < s.seqK; ++j) {
            bool kept = mask.get(h, qb, j / mask.blockK()) && (!causal || j <= i);
            if (!kept)
              S(i - i0, j) = negInf;
          }
        for (int64_t r = 0; r < S.rows(); ++r) {
          double m = S.row(r).maxCoeff();
          if (m == negInf) { // no kept key: zeros
            S.row(r).setZero();
            continue;
          }
          S.row(r) = (S.row(r).array() - m).exp();
          S.row(r) /= S.row(r).sum();
        }
        Matrix O = S * V;
        double *dst = out.data() + ((b * s.headsQ + h) * s.seqQ + i0) * D;
        Eigen::Map<Matrix>(dst, i1 - i0, D) = O;
      }
    }
  return out;
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

} // namespace sieve::runtime
