//===- Generation.h - one kernel for every step of generation --*- C++ -*-===//
//
// A generation kernel (docs/generation.md) is compiled once for a mask over
// positions [H, ceil(M / bq), ceil(M / bk)] and K/V caches of at most M
// positions; each launch says where the step is: its first query's position
// and how many keys of the cache are live. This is the step and its checks,
// shared by every executor.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_GENERATION_H
#define SIEVE_RUNTIME_GENERATION_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/TensorView.h"

#include <array>
#include <cstdint>

namespace sieve::runtime {

struct GenerationStep {
  /// The position of the call's first query: query i is position qPos + i.
  int64_t qPos = 0;
  /// The keys of the cache the call reads, positions [0, seqKLive); 0 means
  /// qPos + Sq (the step's own keys just appended, the usual case).
  int64_t seqKLive = 0;
};

/// The step as the kernel reads it, (q_pos, seq_k_live) with seqKLive
/// resolved, after checking it against `artifact`: a generation kernel,
/// 0 <= qPos, qPos + Sq <= seqKLive (the call's last query is a live
/// position) and seqKLive <= the kernel's positions (shape.seqK).
Expected<std::array<int32_t, 2>> generationPositions(const Artifact &artifact,
                                                     const GenerationStep &step);

/// The step's tensors against a generation kernel: q and out as for any
/// launch; K and V hold the cache so far, any number of positions from
/// seqKLive (every live key is there) to the kernel's M (its mask covers no
/// more), both the same. A cache allocated for M positions and one grown
/// token by token (a framework's dynamic cache) are both accepted: only the
/// first seqKLive positions are read. `positions` is generationPositions'.
Error checkGenerationTensors(const Artifact &artifact, const std::array<int32_t, 2> &positions,
                             const TensorView &q, const TensorView &k, const TensorView &v,
                             const TensorView &out, DeviceKind device);

} // namespace sieve::runtime

#endif
