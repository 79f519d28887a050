//===- AttentionPlan.h - which tiles each layer's attention keeps -*- C++ -*-===//
//
// A model's encoder asks its plan, for every attention call, which block
// mask to compile (sieve specializes and caches one kernel per mask and
// shape), and tells the plan's observer what the call saw. The dense model
// is the default plan; pruning plugs in a mask per layer; calibration plugs
// in an observer that accumulates attention statistics from q and k.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_MODELS_ATTENTIONPLAN_H
#define SIEVE_MODELS_ATTENTIONPLAN_H

#include "sieve/Error.h"
#include "sieve/runtime/BlockMask.h"
#include "sieve/runtime/TensorView.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace sieve::models {

/// One attention call, as the observer sees it after the kernel ran. The
/// views are [1, heads, seqLen, headDim] host f32 tensors with the model's
/// own strides (BSHD: rows of the fused projection buffer); they are valid
/// only during the callback.
struct AttentionCall {
  int layer = 0;
  int64_t seqLen = 0;
  double scale = 0; // scores are scale * q . k
  const runtime::BlockMask *mask = nullptr;
  runtime::TensorView q, k, v, out;
};

struct AttentionPlan {
  /// Tile size of the masks this plan hands out (and of the dense default).
  int64_t blockQ = 16, blockK = 16;

  /// The mask for `layer` at `seqLen` tokens: [heads, ceil(seqLen / blockQ),
  /// ceil(seqLen / blockK)] with this plan's block sizes. Unset: every tile
  /// is kept (the dense model). An error aborts the forward pass, with the
  /// layer named.
  std::function<Expected<runtime::BlockMask>(int layer, int64_t seqLen, int64_t heads)> mask;

  /// Called after every attention call; an error aborts the forward pass.
  std::function<Error(const AttentionCall &)> observe;

  /// The mask the encoder runs for (layer, seqLen): `mask`'s answer, or all
  /// tiles kept when it is unset.
  Expected<runtime::BlockMask> maskFor(int layer, int64_t seqLen, int64_t heads) const;

  /// Every tile kept.
  static AttentionPlan dense(int64_t block = 16);

  /// One mask per layer, made for the longest sequence; a shorter sequence
  /// runs the leading (top-left) query and key blocks. Fails at use when a
  /// layer has no mask, the heads differ, or the sequence is longer than
  /// the mask covers.
  static AttentionPlan perLayer(std::vector<runtime::BlockMask> masks);
};

/// All tiles of a [heads, ceil(seqLen / blockQ), ceil(seqLen / blockK)] mask kept.
Expected<runtime::BlockMask> fullMask(int64_t heads, int64_t seqLen, int64_t blockQ,
                                      int64_t blockK);

/// The leading ceil(seqLen / blockQ) x ceil(seqLen / blockK) blocks of
/// every head of `mask`.
Expected<runtime::BlockMask> cropMask(const runtime::BlockMask &mask, int64_t seqLen);

} // namespace sieve::models

#endif
