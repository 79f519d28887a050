//===- Limits.cpp ---------------------------------------------------------===//
#include "sieve/runtime/Limits.h"

#include "sieve/runtime/Artifact.h"

#include <fmt/format.h>

namespace sieve::runtime {

Error checkSize(const char *name, int64_t value, int64_t limit) {
  if (value <= 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{} must be positive, got {}", name, value));
  if (value > limit)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{} is {}, over sieve's limit of {}", name, value, limit));
  return Error::success();
}

Error checkProblemLimits(const ProblemShape &s) {
  struct Field {
    const char *name;
    int64_t value, limit;
  };
  for (const Field &f :
       {Field{"batch", s.batch, kMaxBatch}, Field{"heads_q", s.headsQ, kMaxHeads},
        Field{"heads_kv", s.headsKv, kMaxHeads}, Field{"seq_q", s.seqQ, kMaxSequence},
        Field{"seq_k", s.seqK, kMaxSequence}, Field{"head_dim", s.headDim, kMaxHeadDim}})
    if (Error e = checkSize(f.name, f.value, f.limit))
      return e;
  return Error::success();
}

Error checkMaskTiles(int64_t heads, int64_t queryBlocks, int64_t keyBlocks) {
  // Each factor is checked before it is multiplied: heads x blocks stays
  // below 2^30 x 2^30 only while the partial product does.
  int64_t tiles = 1;
  for (int64_t factor : {heads, queryBlocks, keyBlocks}) {
    if (factor <= 0)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("mask shape must be positive, got [{}, {}, {}]", heads, queryBlocks,
                               keyBlocks));
    if (factor > kMaxMaskTiles || tiles > kMaxMaskTiles / factor)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("a mask of [{}, {}, {}] tiles is over sieve's limit of {} tiles "
                               "(1 GiB as a .npy table)",
                               heads, queryBlocks, keyBlocks, kMaxMaskTiles));
    tiles *= factor;
  }
  return Error::success();
}

} // namespace sieve::runtime
