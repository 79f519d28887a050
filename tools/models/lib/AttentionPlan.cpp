//===- AttentionPlan.cpp --------------------------------------------------===//
#include "sieve/models/AttentionPlan.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace sieve::models {

namespace {
int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
} // namespace

Expected<runtime::BlockMask> fullMask(int64_t heads, int64_t seqLen, int64_t blockQ,
                                      int64_t blockK) {
  if (seqLen <= 0 || blockQ <= 0 || blockK <= 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("sequence length {} and blocks {}x{} must be positive", seqLen, blockQ,
                             blockK));
  auto mask = runtime::BlockMask::create(heads, ceilDiv(seqLen, blockQ), ceilDiv(seqLen, blockK),
                                         blockQ, blockK);
  if (!mask)
    return mask.error();
  for (int64_t h = 0; h < heads; ++h)
    mask->setHead(h, true);
  return mask;
}

Expected<runtime::BlockMask> cropMask(const runtime::BlockMask &mask, int64_t seqLen) {
  int64_t qBlocks = ceilDiv(seqLen, mask.blockQ()), kBlocks = ceilDiv(seqLen, mask.blockK());
  if (qBlocks > mask.queryBlocks() || kBlocks > mask.keyBlocks())
    return Error(
        ErrorCode::ShapeMismatch,
        fmt::format("a {}x{} block mask of {}x{} tiles covers {} tokens, not {}",
                    mask.queryBlocks(), mask.keyBlocks(), mask.blockQ(), mask.blockK(),
                    std::min(mask.queryBlocks() * mask.blockQ(), mask.keyBlocks() * mask.blockK()),
                    seqLen));
  auto out =
      runtime::BlockMask::create(mask.heads(), qBlocks, kBlocks, mask.blockQ(), mask.blockK());
  if (!out)
    return out.error();
  for (int64_t h = 0; h < mask.heads(); ++h)
    for (int64_t qb = 0; qb < qBlocks; ++qb)
      for (int64_t kb = 0; kb < kBlocks; ++kb)
        out->set(h, qb, kb, mask.get(h, qb, kb));
  return out;
}

Expected<runtime::BlockMask> AttentionPlan::maskFor(int layer, int64_t seqLen,
                                                    int64_t heads) const {
  if (!mask)
    return fullMask(heads, seqLen, blockQ, blockK);
  return mask(layer, seqLen, heads);
}

AttentionPlan AttentionPlan::dense(int64_t block) {
  AttentionPlan plan;
  plan.blockQ = plan.blockK = block;
  return plan;
}

AttentionPlan AttentionPlan::perLayer(std::vector<runtime::BlockMask> masks) {
  AttentionPlan plan;
  if (!masks.empty()) {
    plan.blockQ = masks.front().blockQ();
    plan.blockK = masks.front().blockK();
  }
  // Shared so that copies of the plan do not copy every mask.
  auto shared = std::make_shared<const std::vector<runtime::BlockMask>>(std::move(masks));
  plan.mask = [shared](int layer, int64_t seqLen, int64_t heads) -> Expected<runtime::BlockMask> {
    if (layer < 0 || static_cast<size_t>(layer) >= shared->size())
      return Error(
          ErrorCode::ShapeMismatch,
          fmt::format("the plan has masks for {} layers, not layer {}", shared->size(), layer));
    const runtime::BlockMask &m = (*shared)[static_cast<size_t>(layer)];
    if (m.heads() != heads)
      return Error(
          ErrorCode::ShapeMismatch,
          fmt::format("the mask of layer {} has {} heads, the model {}", layer, m.heads(), heads));
    return cropMask(m, seqLen);
  };
  return plan;
}

} // namespace sieve::models
