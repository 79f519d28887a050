//===- Thresholds.h - threshold-mode thresholds for tests -------*- C++ -*-===//
//
// Threshold-mode tests pick each head's threshold from its own scores: at a
// quantile, but never on a score. A score that sits on the threshold could
// fall either side of it under f32 rounding (and the backward recomputes
// the scores in another order than the forward), which would test
// rounding, not the mode.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_THRESHOLDS_H
#define SIEVE_TESTING_THRESHOLDS_H

#include "sieve/runtime/Artifact.h"

#include <vector>

namespace sieve::testing {

/// Every score scale * q . k of query head `head` over all batch entries,
/// queries and keys (mask or not), in float64 rounded to float. q and k:
/// contiguous BHSD host arrays.
std::vector<float> headScores(const runtime::ProblemShape &shape, double scale, const float *q,
                              const float *k, int64_t head);

/// A threshold near the `p`-quantile of `scores` (0 < p < 1), halfway
/// across the widest gap between neighbouring scores within max(5, n/200)
/// ranks of it, so no score lies near it (f32 rounding of a kernel's
/// scores cannot move one across).
float thresholdInGap(std::vector<float> scores, double p);

/// Scales the keys of every `period`-th key block (blocks 0, period,
/// 2 period, ...) by 1/64, exactly in any dtype: their scores fall within a
/// few hundredths of 0, so a threshold well above that drops every score
/// of those blocks (the kernels skip whole key tiles) and only some of the
/// others. k: contiguous BHSD floats of `shape`'s keys.
void dampKeyBlocks(std::vector<float> &k, const runtime::ProblemShape &shape, int64_t blockK,
                   int64_t period);

} // namespace sieve::testing

#endif
