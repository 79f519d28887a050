//===- KernelSpec.cpp -----------------------------------------------------===//
#include "sieve/compiler/KernelSpec.h"

#include "sieve/passes/GenerationSplit.h"
#include "sieve/runtime/Limits.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace sieve::compiler {

namespace {
/// More workers than any machine has: a number past this is a mistake.
constexpr int64_t kMaxSplitWorkers = 1 << 20;
} // namespace

std::string KernelOptions::str() const {
  return fmt::format("variant={} query-tile={} key-tile={} stages={} split-kv={} split-workers={} "
                     "pack-gqa={}",
                     variant, queryTile, keyTile, stages, splitKv, splitWorkers, packGqa) +
         (overlap ? " overlap" : ""); // absent when off: earlier cache keys stay valid
}

/// Queries per head up to which decoding packs GQA: a packed row then
/// holds at most 64 of one head's queries, and K/V reads dominate.
constexpr int64_t kPackGqaMaxQueries = 64;

namespace {
/// A generation mask's rows counted as both layouts would run them (causal
/// blocks dropped): the key blocks each query head's rows keep, summed;
/// the blocks of each packed row (a key head's union of g heads), summed;
/// and the longest packed row.
struct GenerationRowCounts {
  int64_t perHead = 0, unions = 0, longestUnion = 0;
};
GenerationRowCounts generationRowCounts(const KernelSpec &spec) {
  const runtime::BlockMask &m = spec.mask;
  const int64_t g = spec.shape.headsQ / spec.shape.headsKv;
  const int64_t positions = spec.shape.seqK;
  GenerationRowCounts c;
  for (int64_t qb = 0; qb < m.queryBlocks(); ++qb) {
    const int64_t lastPosition = std::min(positions, (qb + 1) * m.blockQ()) - 1;
    for (int64_t kvh = 0; kvh < spec.shape.headsKv; ++kvh) {
      int64_t rowUnion = 0;
      for (int64_t kb = 0; kb < m.keyBlocks(); ++kb) {
        if (spec.causal && kb * m.blockK() > lastPosition)
          break;
        int64_t keeping = 0;
        for (int64_t h = kvh * g; h < (kvh + 1) * g; ++h)
          keeping += m.get(h, qb, kb);
        c.perHead += keeping;
        rowUnion += keeping > 0;
      }
      c.unions += rowUnion;
      c.longestUnion = std::max(c.longestUnion, rowUnion);
    }
  }
  return c;
}

/// Whether the wave-times-walk rule favours packing (generationPackingPays).
bool packingPays(const KernelSpec &spec, const GenerationRowCounts &c, int64_t sms) {
  const int64_t g = spec.shape.headsQ / spec.shape.headsKv;
  auto waves = [&](int64_t blocks) { return (blocks + sms - 1) / sms; };
  // waves(B Hkv) x unions / Hkv <= waves(B Hq) x perHead / Hq, in integers.
  const int64_t batch = spec.shape.batch;
  return waves(batch * spec.shape.headsKv) * c.unions * g <=
         waves(batch * spec.shape.headsQ) * c.perHead;
}
} // namespace

bool generationPackingPays(const KernelSpec &spec, int64_t sms) {
  return packingPays(spec, generationRowCounts(spec), sms);
}

bool KernelSpec::packsGqa() const {
  if (options.packGqa == "off" || shape.headsQ <= shape.headsKv ||
      shape.seqQ > kPackGqaMaxQueries || calibrate || thresholds || backward || ragged || pageSize)
    return false;
  // A generation chunk may straddle two position blocks' rows: only a
  // decode step (one query per head) packs (docs/generation.md).
  if (generation && shape.seqQ != 1)
    return false;
  if (target.backend == runtime::Backend::Cpu)
    return true;
  // The tensor-core bodies (wgmma, mma) run packed rows; the scalar one
  // and the generic kernel do not.
  const bool tensorCoreVariant =
      options.variant == "auto" || options.variant == "wgmma" || options.variant == "mma";
  const bool sixteenBit = shape.dtype == runtime::DType::F16 || shape.dtype == runtime::DType::BF16;
  if (!tensorCoreVariant || !sixteenBit || shape.headDim % 16 != 0 || shape.headDim > 256)
    return false;
  if (!generation || options.packGqa == "on")
    return true;
  // "auto": a generation step packs where it pays on this GPU.
  Expected<runtime::TargetInfo> info = target.info();
  if (!info || info->multiprocessors <= 0)
    return false;
  const int64_t sms = info->multiprocessors;
  const GenerationRowCounts counts = generationRowCounts(*this);
  // With split-KV (the default), packed rows long enough to be cut are cut
  // into parts over the SMs (sieve-split-rows' generation rule): the walk
  // no longer decides, and packed rows read each kept K and V block once
  // per key head rather than g times.
  const int64_t minPartBlocks = (passes::kMinPartKeys + mask.blockK() - 1) / mask.blockK();
  if (options.splitKv == "auto" &&
      passes::generationPartCount(counts.longestUnion, shape.batch * shape.headsKv, sms,
                                  minPartBlocks) > 1)
    return true;
  // Whole rows: the wave-times-walk rule.
  return packingPays(*this, counts, sms);
}

double KernelSpec::effectiveScale() const {
  return scale ? *scale : 1.0 / std::sqrt(static_cast<double>(shape.headDim));
}

bool isSupportedChip(const std::string &chip) {
  return static_cast<bool>(runtime::TargetInfo::forChip(chip));
}

Expected<runtime::TargetInfo> Target::info() const {
  if (backend != runtime::Backend::Cuda)
    return Error(ErrorCode::Internal, "the CPU backend has no GPU target description");
  if (device) {
    if (device->chip != chip)
      return Error(
          ErrorCode::InvalidArgument,
          fmt::format("target chip '{}' differs from its device's ({})", chip, device->chip));
    return *device;
  }
  return runtime::TargetInfo::forChip(chip);
}

Error KernelSpec::validateBatchLayout() const {
  if (!ragged && pageSize == 0)
    return Error::success();
  if (pageSize < 0)
    return Error(
        ErrorCode::InvalidArgument,
        fmt::format("pageSize must be 0 (contiguous K and V) or positive, got {}", pageSize));
  if (pageSize % mask.blockK() != 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("pageSize {} is not a multiple of the mask's block_k {}: each key "
                             "block must lie in one page",
                             pageSize, mask.blockK()));
  const char *feature = ragged && pageSize ? "ragged batches and paged KV"
                        : ragged           ? "ragged batches"
                                           : "paged KV";
  if (calibrate || saveLse || backward || generation)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{} run the forward only: not with calibrate, saveLse, backward or "
                             "generation",
                             feature));
  if (target.backend == runtime::Backend::Cuda && thresholds)
    return Error(ErrorCode::Unsupported,
                 fmt::format("{} with threshold mode run on the CPU backend only: the GPU's mma "
                             "body takes them without thresholds (docs/ragged-paged.md)",
                             feature));
  if (target.backend == runtime::Backend::Cuda && shape.dtype == runtime::DType::F32)
    return Error(ErrorCode::Unsupported,
                 fmt::format("{} run on the GPU's mma body, which takes f16 or bf16, not f32 "
                             "(docs/ragged-paged.md)",
                             feature));
  return Error::success();
}

Error KernelSpec::validate() const {
  const runtime::ProblemShape &s = shape;
  if (Error e = runtime::checkProblemLimits(s))
    return e;
  if (causalAlign != runtime::CausalAlign::TopLeft &&
      causalAlign != runtime::CausalAlign::BottomRight)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("causalAlign {} is neither top_left nor bottom_right",
                             static_cast<int>(causalAlign)));
  if (causalAlign == runtime::CausalAlign::BottomRight && !causal)
    return Error(ErrorCode::InvalidArgument,
                 "causalAlign bottom_right needs causal: it places a causal mask's diagonal");
  if (calibrate && thresholds)
    return Error(ErrorCode::InvalidArgument,
                 "calibrate and thresholds exclude each other: calibration measures the "
                 "unthresholded attention");
  if ((saveLse || backward) && calibrate)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("{} excludes calibrate: calibration measures the attention, it has "
                             "no gradient",
                             backward ? "backward" : "saveLse"));
  if (saveLse && backward)
    return Error(ErrorCode::InvalidArgument,
                 "saveLse and backward are two kernels: compile the forward with saveLse and the "
                 "backward with backward");
  if ((saveLse || backward) && options.variant == "generic")
    return Error(ErrorCode::Unsupported,
                 "the generic variant has no backward pass or log-sum-exp output; specialize "
                 "the kernel for its mask");
  if (s.headsQ % s.headsKv != 0)
    return Error(
        ErrorCode::ShapeMismatch,
        fmt::format("heads_q ({}) must be a multiple of heads_kv ({})", s.headsQ, s.headsKv));
  if (mask.numTiles() == 0)
    return Error(ErrorCode::MalformedMask, "no mask given");
  if (Error e = runtime::checkMaskTiles(mask.heads(), mask.queryBlocks(), mask.keyBlocks()))
    return e;
  if (Error e = runtime::checkSize("block_q", mask.blockQ(), runtime::kMaxBlock))
    return e;
  if (Error e = runtime::checkSize("block_k", mask.blockK(), runtime::kMaxBlock))
    return e;
  if (generation) {
    // The mask is over positions (docs/generation.md): its query blocks
    // cover the seqK positions, not the call's seqQ queries.
    if (calibrate || saveLse || backward)
      return Error(ErrorCode::InvalidArgument,
                   "generation runs the forward only: not with calibrate, saveLse or backward");
    if (causalAlign != runtime::CausalAlign::TopLeft)
      return Error(ErrorCode::InvalidArgument,
                   "generation takes no causalAlign: each launch's q_pos places its queries");
    if (s.seqQ > s.seqK)
      return Error(ErrorCode::ShapeMismatch,
                   fmt::format("generation: seq_q ({}) exceeds seq_k ({}), the most positions",
                               s.seqQ, s.seqK));
    if (Error e = mask.checkCovers(s.headsQ, s.seqK, s.seqK))
      return Error(e.code(), "generation mask (over positions, [Hq, ceil(seq_k / block_q), "
                             "ceil(seq_k / block_k)]): " +
                                 e.message());
  } else if (Error e = mask.checkCovers(s.headsQ, s.seqQ, s.seqK)) {
    return e;
  }
  if (Error e = validateBatchLayout())
    return e;
  double sc = effectiveScale();
  // The kernels take the scale as an f32: a double beyond f32's range, or
  // one so small it rounds to zero there, is no usable scale either.
  if (!std::isfinite(sc) || std::fabs(sc) > std::numeric_limits<float>::max() ||
      static_cast<float>(sc) == 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("scale must be finite and non-zero (as an f32), got {}", sc));
  if (options.splitKv != "auto" && options.splitKv != "off")
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("split-kv must be auto or off, got '{}'", options.splitKv));
  if (options.packGqa != "auto" && options.packGqa != "on" && options.packGqa != "off")
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("pack-gqa must be auto, on or off, got '{}'", options.packGqa));
  if (options.splitWorkers < 0 || options.splitWorkers > kMaxSplitWorkers)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("split workers must be 0 (the target's own) to {}, got {}",
                             kMaxSplitWorkers, options.splitWorkers));
  if (target.backend == runtime::Backend::Cpu) {
    // f32, f16 and bf16 all run: the kernels widen to f32 on load, compute
    // in f32 and narrow on store.
    // The CPU kernel is always specialized; a request for a GPU body must
    // not quietly become something else.
    if (options.variant != "auto")
      return Error(ErrorCode::Unsupported,
                   fmt::format("kernel variant '{}' is a GPU kernel; the CPU backend has one "
                               "(leave the variant at auto)",
                               options.variant));
    if (options.overlap)
      return Error(ErrorCode::Unsupported,
                   "overlap is a schedule of the GPU's wgmma body; the CPU backend has none");
  } else {
    if (calibrate && options.variant == "generic")
      return Error(ErrorCode::Unsupported,
                   "calibrate: the generic kernel (mask read at launch) has no calibration pass; "
                   "the specialized bodies (auto, wgmma, mma, simt) have");
    auto gpu = target.info();
    if (!gpu)
      return gpu.error();
    if (mask.blockQ() > gpu->maxThreadsPerBlock)
      return Error(ErrorCode::Unsupported,
                   fmt::format("block_q {} exceeds the {} threads of a {} block", mask.blockQ(),
                               gpu->maxThreadsPerBlock, gpu->chip));
    if (options.variant != "auto" && options.variant != "wgmma" && options.variant != "mma" &&
        options.variant != "simt" && options.variant != "generic")
      return Error(
          ErrorCode::InvalidArgument,
          fmt::format("unknown kernel variant '{}' (expected auto, wgmma, mma, simt or generic)",
                      options.variant));
    // The overlapped schedule is the wgmma body's alone: asked of another
    // body, or of threshold mode, it would be quietly dropped.
    if (options.overlap && options.variant != "wgmma")
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("overlap (the softmax beside the products) is a schedule of the "
                               "wgmma body: pass variant wgmma, not '{}'",
                               options.variant));
    if (options.overlap && thresholds)
      return Error(ErrorCode::Unsupported,
                   "overlap does not take threshold mode yet (the tile vote needs its own "
                   "schedule)");
    if (options.overlap && options.stages != 0 && options.stages < 3)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("overlap needs 3 or more stages (a tile's V is read a step after "
                               "its K), got {}",
                               options.stages));
    // Tiles larger than the mask's blocks are clamped to them.
    if (options.keyTile != 0 &&
        (options.keyTile < 16 || options.keyTile % 16 != 0 ||
         (options.keyTile < mask.blockK() && mask.blockK() % options.keyTile != 0)))
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("key tile {} must be a multiple of 16 that divides block_k {}",
                               options.keyTile, mask.blockK()));
    if (options.queryTile != 0 &&
        (options.queryTile < 16 || options.queryTile % 16 != 0 ||
         (options.queryTile < mask.blockQ() && mask.blockQ() % options.queryTile != 0)))
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("query tile {} must be a multiple of 16 that divides block_q {}",
                               options.queryTile, mask.blockQ()));
    if (options.stages != 0 && (options.stages < 2 || options.stages > 4))
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("stages must be 2, 3 or 4, got {}", options.stages));
    if (s.batch > gpu->maxGrid[1])
      return Error(ErrorCode::Unsupported, fmt::format("batch {} exceeds the grid's {} on {}",
                                                       s.batch, gpu->maxGrid[1], gpu->chip));
  }
  return Error::success();
}

} // namespace sieve::compiler
