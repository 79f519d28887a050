//===- KernelSpec.h - what to compile ---------------------------*- C++ -*-===//
#ifndef SIEVE_COMPILER_KERNELSPEC_H
#define SIEVE_COMPILER_KERNELSPEC_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/BlockMask.h"
#include "sieve/runtime/CausalMask.h"
#include "sieve/runtime/TargetInfo.h"

#include <optional>
#include <string>

namespace sieve::compiler {

/// Where the kernel runs: the host (CPU backend) or a CUDA chip.
struct Target {
  runtime::Backend backend = runtime::Backend::Cpu;
  std::string chip = "host"; // "sm_80", "sm_90a", ... for CUDA
  /// A live device's own description (its SMs, shared memory, limits) when
  /// compiling for that device; empty: the chip's usual part
  /// (runtime::TargetInfo::forChip).
  std::optional<runtime::TargetInfo> device;
  static Target cpu() { return {}; }
  /// The chip's usual part: what ahead-of-time compiles and CI build for.
  static Target cuda(std::string chip) { return {runtime::Backend::Cuda, std::move(chip), {}}; }
  /// A live device (Session, `--target auto`).
  static Target of(const runtime::TargetInfo &device) {
    return {runtime::Backend::Cuda, device.chip, device};
  }
  /// What a CUDA target's kernels are generated for; Unsupported for an
  /// unknown chip or the CPU backend.
  Expected<runtime::TargetInfo> info() const;
  std::string str() const { return std::string(runtime::backendName(backend)) + ":" + chip; }
};

/// How to build the GPU kernel. The defaults let the compiler choose; the
/// choice is recorded in the artifact (`variant`, `config`).
struct KernelOptions {
  std::string variant = "auto"; // auto, wgmma (sm_90a), mma (tensor cores), simt (scalar),
                                // or generic (the mask read at launch: no compile per mask)
  int64_t queryTile = 0;        // query rows per thread block; 0 = choose
  int64_t keyTile = 0;          // keys per pipeline step; 0 = choose
  int64_t stages = 0;           // shared-memory key/value buffers; 0 = choose
  /// The wgmma body (sm_90a) only: each tile's softmax runs beside the
  /// previous tile's P·V (intra-warp-group overlap; 3 stages unless given,
  /// and no threshold mode). The artifact's config says "overlap".
  bool overlap = false;
  /// Split-KV: "auto" cuts rows too long for a balanced schedule into parts
  /// merged by the last of them to finish (specialized GPU kernels; the
  /// CPU backend's combine phase); "off" keeps whole
  /// rows (the unbalanced baseline, for benchmarks).
  std::string splitKv = "auto";
  /// The parallel workers split-KV balances: 0 is the target's own (the
  /// GPU's SMs; on the CPU backend rows stay whole). A count makes any
  /// target cut rows as for that many workers, so the CPU backend can run
  /// (and CI check) the schedule a GPU of that many SMs runs.
  int64_t splitWorkers = 0;
  /// Decode (pack GQA): "on" gives the g = Hq / Hkv query heads of a key
  /// head the rows of one tile when Sq <= 64 and Hq > Hkv (and not
  /// calibrate, thresholds or backward; a generation kernel only at
  /// Sq = 1; on the GPU the tensor-core bodies, f16/bf16), so keys and
  /// values are read once per key head; "auto" (the default) does the same
  /// except that a generation kernel on the GPU packs only where its
  /// unsplit rows fill the GPU well enough to pay (docs/generation.md);
  /// "off" keeps a row per query head. The artifact's config says
  /// "pack-gqa" when it packed.
  std::string packGqa = "auto";
  std::string str() const;
};

/// Everything the specialized kernel depends on. Two specs that compile to
/// the same IR for the same target share a cache key.
struct KernelSpec {
  runtime::ProblemShape shape;
  runtime::BlockMask mask;
  std::optional<double> scale; // default 1/sqrt(D)
  bool causal = false;
  /// Where the causal diagonal sits when Sq != Sk: top-left (query i sees
  /// keys j <= i, PyTorch's is_causal) or bottom-right (j <= i + Sk - Sq,
  /// FlashAttention's; the queries are the last Sq of the keys' sequence,
  /// as in KV-cache prefill and decode). Only with causal.
  runtime::CausalAlign causalAlign = runtime::CausalAlign::TopLeft;
  /// Calibration variant (every backend; on the GPU every specialized body,
  /// not the generic kernel): the kernel also takes an f32
  /// stats tensor [Hq, QB, KB] (contiguous, shaped like the mask) and adds,
  /// for every query row, its final softmax probabilities summed per key
  /// block over the kept tiles (every batch entry). Costs a second pass over
  /// the keys. Run it with Session::calibrate or CpuExecutor::run(.., stats).
  bool calibrate = false;
  /// Threshold mode (learned per-head score thresholds): the kernel also
  /// takes an f32 [Hq] table, read at launch, and drops every score
  /// scale * q . k below its head's threshold (a key chunk with no score
  /// left is skipped). Every backend and body; not with calibrate. Run it
  /// with Session::run(..., thresholds). With saveLse the lse is the
  /// thresholded attention's; with backward the gradients are (the
  /// thresholds are constants: a dropped score has P = 0 and dS = 0), and
  /// BackwardTensors::thresholds must be the forward's.
  bool thresholds = false;
  /// The forward also writes each query row's natural-log log-sum-exp into
  /// an f32 [B, Hq, Sq] buffer (contiguous), which the backward reads. Run
  /// it with Session::forward. Not with calibrate.
  bool saveLse = false;
  /// The backward pass of this spec's attention: dq, dk, dv from q, k, v,
  /// the forward's out and lse, and dout. Run it with Session::backward.
  /// Not with calibrate or saveLse, nor the generic variant.
  bool backward = false;
  /// Generation (docs/generation.md): one kernel for every step of a mask
  /// over positions. shape.seqK is the most positions M (the KV cache's
  /// length), shape.seqQ the queries per call (1 for a decode step), and
  /// the mask is [Hq, ceil(M / bq), ceil(M / bk)], causal over positions.
  /// Each launch gives the step (runtime::GenerationStep: q_pos and
  /// seq_k_live): Session::generate. On the CPU backend and the mma and
  /// wgmma GPU bodies (not variant=generic or simt); not with causalAlign,
  /// calibrate, saveLse or backward.
  bool generation = false;
  /// A ragged batch (docs/ragged-paged.md): shape.batch sequences of
  /// different lengths, at most shape.seqQ queries and shape.seqK keys
  /// each, packed one after another; each launch gives their cumulative
  /// offsets (runtime::BatchLayout, Session::runBatch) and every sequence
  /// sees the mask cropped to its own lengths (bottom-right causal aligned
  /// by them). One compile serves every set of lengths. The CPU backend
  /// only, for now; the forward only (not with calibrate, saveLse,
  /// backward or generation).
  bool ragged = false;
  /// Paged KV (docs/ragged-paged.md): 0 for contiguous K and V, or the keys
  /// per page, a multiple of the mask's block_k; K and V are then a pool of
  /// pages read through a page table given at launch
  /// (runtime::BatchLayout::pageTable, [batch, ceil(seq_k / pageSize)]).
  /// With ragged or without; the same limits as ragged.
  int64_t pageSize = 0;
  Target target;
  KernelOptions options;

  double effectiveScale() const;
  /// The causal rule of causal, causalAlign and the shape.
  runtime::CausalRule causalRule() const {
    return runtime::CausalRule::of(causal, causalAlign, shape.seqQ, shape.seqK);
  }
  /// Whether the compiler packs GQA for this spec (KernelOptions::packGqa's
  /// rule).
  bool packsGqa() const;
  /// Rejects specs the compiler cannot build, naming the field at fault:
  /// non-positive sizes, Hq not a multiple of Hkv, a mask that does not
  /// cover the shape, a dtype or chip the target does not support.
  Error validate() const;

private:
  /// validate()'s rules for ragged and pageSize.
  Error validateBatchLayout() const;
};

/// Whether packing a generation op's decode step pays on a GPU of `sms`
/// multiprocessors (KernelOptions::packGqa "auto") when its rows stay whole
/// (splitKv "off", or packed rows too short for sieve-split-rows to cut:
/// packsGqa packs whenever they are cut), so each thread block walks its
/// row's live key blocks alone:
/// packed, B x Hkv blocks each walk the union of g heads' blocks; unpacked,
/// B x Hq blocks each walk one head's. With few blocks a step is bound by
/// one block's walk, not by bandwidth (docs/perf-notes.md d2), so the rule
/// compares waves x mean walk, ceil(B Hkv / sms) x the union against
/// ceil(B Hq / sms) x one head's, both counted from the mask (a
/// compile-time constant), causal blocks dropped.
bool generationPackingPays(const KernelSpec &spec, int64_t sms);

/// Chips the GPU pipeline targets (PTX for these assembles with ptxas):
/// those runtime::TargetInfo::forChip knows.
bool isSupportedChip(const std::string &chip);

} // namespace sieve::compiler

#endif
