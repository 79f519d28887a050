//===- Reference.h - float64 block-sparse attention on the host -*- C++ -*-===//
//
// The numerical reference every backend is checked against: the same
// semantics (mask tiles, causal top-left or bottom-right, zero rows), in double precision,
// written plainly with Eigen and sharing no code with the kernels.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_REFERENCE_H
#define SIEVE_TESTING_REFERENCE_H

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/BlockMask.h"
#include "sieve/testing/CausalMode.h"

#include <vector>

namespace sieve::testing {

/// q, k, v: contiguous BHSD host arrays; returns out as contiguous BHSD.
/// With `thresholds` (f32 [Hq], threshold mode) a score scale * q . k under
/// its head's threshold is dropped like a masked key. With `scoresKept`,
/// the number of (batch, head, query, key) scores that entered a softmax
/// (in a kept tile, not causally masked, not under a threshold) goes there.
std::vector<double> referenceAttention(const runtime::ProblemShape &shape,
                                       const runtime::BlockMask &mask, CausalMode causal,
                                       double scale, const float *q, const float *k, const float *v,
                                       const float *thresholds = nullptr,
                                       int64_t *scoresKept = nullptr);

/// A ragged batch's reference (docs/ragged-paged.md): shape.batch
/// sequences, sequence b's queries rows cuQ[b] .. cuQ[b + 1] - 1 of q and
/// its keys rows cuK[b] .. cuK[b + 1] - 1 of k and v, each attending as its
/// own problem of its own lengths with the mask's top-left crop to them
/// (and the causal rule of those lengths). q: contiguous [total_q, Hq, D],
/// k and v [total_k, Hkv, D]; returns out as contiguous [total_q, Hq, D]
/// (zeros for a sequence without keys).
std::vector<double> referenceRaggedAttention(const runtime::ProblemShape &shape,
                                             const runtime::BlockMask &mask, CausalMode causal,
                                             double scale, const int32_t *cuQ, const int32_t *cuK,
                                             const float *q, const float *k, const float *v,
                                             const float *thresholds = nullptr);

/// The calibration kernels' reference: every query row's float64 softmax
/// probabilities (over its kept keys, causal applied), summed per
/// (head, query block, key block) over the rows and the batch, as a
/// contiguous [Hq, QB, KB] table. q and k: contiguous BHSD host arrays. A
/// row with no kept key adds nothing.
std::vector<double> referenceTileMass(const runtime::ProblemShape &shape,
                                      const runtime::BlockMask &mask, CausalMode causal,
                                      double scale, const float *q, const float *k);

/// ||out - ref|| / ||ref|| over all elements (Frobenius). NaN in `out` gives
/// NaN, so a NaN can never pass a threshold test. A zero reference (every row
/// empty) compares absolute error instead.
double relativeError(const float *out, const std::vector<double> &ref);

/// How an output with NaN or Inf inputs compares to the float64 reference:
/// the elements that are NaN, +Inf or -Inf in one but not the other, how
/// many are non-finite in the reference, and the relative error over the
/// elements finite in both.
struct NonFiniteComparison {
  int64_t mismatched = 0, nonFiniteInReference = 0, finite = 0;
  int64_t firstMismatch = -1;
  double finiteRelativeError = 0;
};
NonFiniteComparison compareNonFinite(const float *out, const std::vector<double> &ref);

} // namespace sieve::testing

#endif
