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
  if (step.qPos < 0)
    return Error(ErrorCode::InvalidArgument, fmt::format("q_pos {} is negative", step.qPos));
  if (step.seqKLive < 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("seq_k_live {} is negative (0 means q_pos + Sq)", step.seqKLive));
  // Before the sum below: a caller's q_pos near INT64_MAX must not overflow.
  if (step.qPos > positions)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("q_pos {} exceeds the kernel's {} positions (its KV cache length)",
                             step.qPos, positions));
  const int64_t live = step.seqKLive == 0 ? step.qPos + seqQ : step.seqKLive;
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

Error checkGenerationTensors(const Artifact &a, const std::array<int32_t, 2> &positions,
                             const TensorView &q, const TensorView &k, const TensorView &v,
                             const TensorView &out, DeviceKind device) {
  const ProblemShape &s = a.shape;
  const int64_t live = positions[1], cached = k.sizes[2];
  if (cached < live || cached > s.seqK)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("the key cache holds {} positions; this step reads seq_k_live = {} "
                             "of them, and the kernel was compiled for at most {} (its mask's "
                             "positions): it must hold between {} and {}",
                             cached, live, s.seqK, live, s.seqK));
  return checkAttentionTensorShapes({s.batch, s.headsQ, s.seqQ, s.headDim},
                                    {s.batch, s.headsKv, cached, s.headDim}, s.dtype, q, k, v, out,
                                    device);
}

} // namespace sieve::runtime
