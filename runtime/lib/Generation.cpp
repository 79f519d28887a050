//===- Generation.cpp -----------------------------------------------------===//
#include "sieve/runtime/Generation.h"

#include <fmt/format.h>

namespace sieve::runtime {

Expected<std::array<int32_t, 2>> generationPositions(const Artifact &a,
                                                     const GenerationStep &step) {
  if (!a.generation)
    return Error(ErrorCode::InvalidArgument,
                 "a generation step given to a kernel compiled without generation");
  const int64_t seqQ = a.shape.seqQ, positions = a.shape.seqK;
  const int64_t live = step.seqKLive == 0 ? step.qPos + seqQ : step.seqKLive;
  if (step.qPos < 0)
    return Error(ErrorCode::InvalidArgument, fmt::format("q_pos {} is negative", step.qPos));
  if (step.qPos + seqQ > live)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("q_pos {} + the kernel's {} queries exceeds seq_k_live {}: a "
                             "query's own key must be live",
                             step.qPos, seqQ, live));
  if (live > positions)
    return Error(
        ErrorCode::InvalidArgument,
        fmt::format("seq_k_live {} exceeds the kernel's {} positions (its KV cache length)", live,
                    positions));
  return std::array<int32_t, 2>{static_cast<int32_t>(step.qPos), static_cast<int32_t>(live)};
}

} // namespace sieve::runtime
