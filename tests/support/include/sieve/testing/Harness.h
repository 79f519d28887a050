//===- Harness.h - run a kernel on fresh inputs and check it ----*- C++ -*-===//
//
// What `sieve run` does with a compiled kernel: draw fresh random inputs,
// poison the output, run, time (device events on the GPU), and compare with
// the float64 reference (sieve/testing/Reference.h). It needs the compiler's
// Session; the shipped runtime and compiler libraries do not contain it.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTING_HARNESS_H
#define SIEVE_TESTING_HARNESS_H

#include "sieve/Error.h"
#include "sieve/compiler/Session.h"

#include <cstdint>
#include <vector>

namespace sieve::testing {

struct HarnessOptions {
  uint64_t seed = 1;
  int warmup = 1;
  int iterations = 5;
  bool check = true;
  /// Lay q/k/v/out out as [B, S, H, D] (strided views) instead of [B, H, S, D].
  bool bshd = false;
  /// Threshold mode's per-head thresholds (Hq of them), for artifacts built
  /// with KernelSpec::thresholds; the reference applies them too.
  std::vector<float> thresholds;
  /// The host memory q, k, v and out (and the float64 check's copies) may
  /// take: a larger problem is refused before anything is allocated.
  uint64_t maxHostBytes = uint64_t(8) << 30;
};

struct HarnessResult {
  double relativeError = 0; // NaN when unchecked or when a NaN was produced
  int64_t poisonedLeft = 0; // output elements still holding the poison
  double medianMs = 0, minMs = 0;
  bool checked = false;
  /// When checked: the (batch, head, query, key) scores that entered a
  /// softmax (what threshold mode keeps depends on the data).
  int64_t scoresKept = -1;
};

/// Refuses (naming the bytes and the limit) a problem whose host tensors
/// would take more than options.maxHostBytes; runAndCheck checks it too.
Error checkHostBytes(const runtime::ProblemShape &shape, const HarnessOptions &options);

Expected<HarnessResult> runAndCheck(compiler::Session &session, const runtime::Artifact &artifact,
                                    const compiler::KernelSpec &spec,
                                    const HarnessOptions &options);

} // namespace sieve::testing

#endif
