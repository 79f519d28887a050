//===- ReferenceBackward.h - float64 gradients of block-sparse attention -*- C++ -*-===//
//
// The reference the backward kernels are checked against: the gradients of
// referenceAttention's output with respect to q, k and v for an upstream
// gradient dout, and the per-row log-sum-exp the forward saves for them, in
// double precision with the same semantics (mask tiles, causal either way,
// rows with no kept key give zeros and contribute nothing, GQA gradients of
// a key head summed over the query heads that share it).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_REFERENCEBACKWARD_H
#define SIEVE_TESTING_REFERENCEBACKWARD_H

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/BlockMask.h"
#include "sieve/testing/CausalMode.h"

#include <vector>

namespace sieve::testing {

struct AttentionGradients {
  /// Contiguous BHSD: dq like q ([B, Hq, Sq, D]), dk and dv like k and v.
  std::vector<double> dq, dk, dv;
  /// Natural-log log-sum-exp of each query row's scaled scores over its kept
  /// keys, [B, Hq, Sq]; -inf for a row with no kept key.
  std::vector<double> lse;
};

/// q, k, v, dout: contiguous BHSD host arrays (dout shaped like q). With
/// `thresholds` (f32 [Hq], threshold mode) the forward is
/// referenceAttention's with those thresholds: a score under its head's
/// threshold is dropped (P = 0, so dS = 0), the lse is over the scores
/// kept, and the thresholds are constants of the gradient.
AttentionGradients referenceAttentionBackward(const runtime::ProblemShape &shape,
                                              const runtime::BlockMask &mask, CausalMode causal,
                                              double scale, const float *q, const float *k,
                                              const float *v, const float *dout,
                                              const float *thresholds = nullptr);

} // namespace sieve::testing

#endif
