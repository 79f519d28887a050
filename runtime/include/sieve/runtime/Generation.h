//===- Generation.h - one kernel for every step of generation --*- C++ -*-===//
//
// A generation kernel (docs/generation.md) is compiled once for a mask over
// positions [H, ceil(M / bq), ceil(M / bk)] and K/V caches of M positions;
// each launch says where the step is: its first query's position and how
// many keys of the cache are live. This is the step and its one check,
// shared by every executor.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_GENERATION_H
#define SIEVE_RUNTIME_GENERATION_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"

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

} // namespace sieve::runtime

#endif
