//===- ReferenceBackward.cpp ----------------------------------------------===//
//
// Per (batch, key head): every query head of the group and every query
// block, with the keys of its kept tiles gathered (as the forward reference
// does), recomputes P = softmax(scale * Q K^T) and then
//   dV += P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dO * O)),
//   dQ = scale * dS K,  dK += scale * dS^T Q.
// One thread owns a key head, so its dK and dV sums need no locks.
//
//===----------------------------------------------------------------------===//
#include "sieve/testing/ReferenceBackward.h"

#include "ReferenceTiles.h"

#include <algorithm>
#include <limits>

namespace sieve::testing {

using runtime::BlockMask;
using runtime::ProblemShape;

namespace {

using reference::ConstFloatMap;
using reference::Matrix;
using MatrixMap = Eigen::Map<Matrix>;

void backwardKeyHead(const ProblemShape &s, const BlockMask &mask, CausalMode causal, double scale,
                     const float *q, const float *k, const float *v, const float *dout,
                     const float *thresholds, int64_t b, int64_t kvh, AttentionGradients &g) {
  const int64_t D = s.headDim, group = s.headsQ / s.headsKv;
  const size_t kvOffset = static_cast<size_t>((b * s.headsKv + kvh) * s.seqK * D);
  Matrix K = ConstFloatMap(k + kvOffset, s.seqK, D).cast<double>();
  Matrix V = ConstFloatMap(v + kvOffset, s.seqK, D).cast<double>();
  MatrixMap dK(g.dk.data() + kvOffset, s.seqK, D), dV(g.dv.data() + kvOffset, s.seqK, D);
  for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
    const size_t qOffset = static_cast<size_t>((b * s.headsQ + h) * s.seqQ * D);
    for (int64_t qb = 0; qb < mask.queryBlocks(); ++qb) {
      const int64_t i0 = qb * mask.blockQ(), i1 = std::min(s.seqQ, i0 + mask.blockQ());
      double *lse = g.lse.data() + (b * s.headsQ + h) * s.seqQ + i0;
      std::vector<int64_t> keys = reference::keptKeys(mask, h, qb, s.seqK);
      if (keys.empty())
        continue; // zero output, zero gradients, lse stays -inf
      Matrix Q = ConstFloatMap(q + qOffset + i0 * D, i1 - i0, D).cast<double>();
      Matrix dO = ConstFloatMap(dout + qOffset + i0 * D, i1 - i0, D).cast<double>();
      Matrix Kk = K(keys, Eigen::all), Vk = V(keys, Eigen::all);
      Matrix P = (Q * Kk.transpose()) * scale;
      reference::maskCausal(P, i0, keys, causal, s.seqQ, s.seqK);
      if (thresholds) // threshold mode: dropped scores, as the forward drops them
        P = (P.array() < double(thresholds[h])).select(-std::numeric_limits<double>::infinity(), P);
      reference::softmaxRows(P, lse);
      Matrix O = P * Vk;
      Matrix dP = dO * Vk.transpose();
      Eigen::VectorXd rowDot = (dO.array() * O.array()).rowwise().sum();
      Matrix dS = P.array() * (dP.colwise() - rowDot).array();
      MatrixMap(g.dq.data() + qOffset + i0 * D, i1 - i0, D) = scale * dS * Kk;
      Matrix dKk = scale * dS.transpose() * Q, dVk = P.transpose() * dO;
      for (size_t c = 0; c < keys.size(); ++c) {
        dK.row(keys[c]) += dKk.row(static_cast<int64_t>(c));
        dV.row(keys[c]) += dVk.row(static_cast<int64_t>(c));
      }
    }
  }
}

} // namespace

AttentionGradients referenceAttentionBackward(const ProblemShape &s, const BlockMask &mask,
                                              CausalMode causal, double scale, const float *q,
                                              const float *k, const float *v, const float *dout,
                                              const float *thresholds) {
  AttentionGradients g;
  g.dq.assign(static_cast<size_t>(s.batch * s.headsQ * s.seqQ * s.headDim), 0.0);
  g.dk.assign(static_cast<size_t>(s.batch * s.headsKv * s.seqK * s.headDim), 0.0);
  g.dv.assign(g.dk.size(), 0.0);
  g.lse.assign(static_cast<size_t>(s.batch * s.headsQ * s.seqQ),
               -std::numeric_limits<double>::infinity());
  reference::forEachSlice(s.batch * s.headsKv, [&](int64_t n) {
    backwardKeyHead(s, mask, causal, scale, q, k, v, dout, thresholds, n / s.headsKv, n % s.headsKv,
                    g);
  });
  return g;
}

} // namespace sieve::testing
