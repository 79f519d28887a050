//===- SpecOptions.cpp ----------------------------------------------------===//
#include "SpecOptions.h"

#include "Validators.h"

#include "sieve/runtime/CudaDriver.h"
#include "sieve/runtime/Limits.h"
#include "sieve/runtime/MaskFile.h"

#include <fmt/format.h>

#include <cstdio>

namespace sieve::tools {

void SpecOptions::addTo(CLI::App &c) {
  c.add_option("--mask", maskPath, "Mask file (.npy with a .json sidecar, see docs/mask-format.md)")
      ->required();
  c.add_option("--layer", layer, "Layer to take from a [layers, heads, ...] mask")
      ->check(CLI::NonNegativeNumber);
  c.add_option("--batch", batch, "Batch size B")->check(sizeUpTo(runtime::kMaxBatch, "batches"));
  c.add_option("--heads-kv", headsKv, "Key/value heads (default: the mask's heads; fewer for GQA)")
      ->check(sizeUpTo(runtime::kMaxHeads, "heads"));
  c.add_option("--seq-q", seqQ,
               "Query length Sq (default: the sidecar's seq_q, else blocks x block_q)")
      ->check(sizeUpTo(runtime::kMaxSequence, "tokens"));
  c.add_option("--seq-k", seqK,
               "Key length Sk (default: the sidecar's seq_k, else blocks x block_k)")
      ->check(sizeUpTo(runtime::kMaxSequence, "tokens"));
  c.add_option("--head-dim", headDim, "Head dimension D")
      ->check(sizeUpTo(runtime::kMaxHeadDim, "elements"));
  c.add_option("--dtype", dtype, "f16, bf16, f32, or auto (bf16 on a GPU, f32 on the CPU)");
  CLI::Option *causalFlag = c.add_flag(
      "--causal", causal, "Also drop keys after the query's position (see --causal-align)");
  c.add_option("--causal-align", causalAlign,
               "With --causal, where the diagonal sits when Sq != Sk: top-left (query i sees "
               "keys j <= i, PyTorch's is_causal; the default) or bottom-right (j <= i + Sk - Sq: "
               "the queries are the last Sq positions, as with a KV cache)")
      ->check(CLI::IsMember({"top-left", "bottom-right"}))
      ->needs(causalFlag);
  c.add_flag("--generation", generation,
             "One kernel for every step of generation (docs/generation.md): the mask is over "
             "positions [H, ceil(M / block_q), ceil(M / block_k)] with --seq-k M (the KV cache's "
             "length) and --seq-q the queries per step; each launch gives q_pos and seq_k_live");
  c.add_option("--scale", scale, "Softmax scale (default 1/sqrt(D))");
  c.add_option("--variant", kernel.variant,
               "GPU kernel: auto, wgmma (sm_90a: TMA, warp-specialized wgmma), mma (sm_80+ "
               "tensor cores) or simt (scalar baseline)");
  c.add_option("--query-tile", kernel.queryTile,
               "GPU: query rows per thread block (divides block_q; 0: choose)");
  c.add_option("--key-tile", kernel.keyTile, "GPU: keys per pipeline step (0: choose)");
  c.add_option("--stages", kernel.stages, "GPU: shared-memory key/value buffers (0: choose)");
  c.add_flag("--overlap", kernel.overlap,
             "GPU, wgmma body: run each tile's softmax beside the previous tile's P·V "
             "(3 stages unless given)");
  c.add_option("--split-kv", kernel.splitKv,
               "GPU: auto cuts rows too long for a balanced schedule into parts a combine "
               "kernel merges; off keeps whole rows")
      ->check(CLI::IsMember({"auto", "off"}));
  c.add_option("--pack-gqa", kernel.packGqa,
               "on packs a key head's query heads into shared rows when Sq <= 64 and Hq > Hkv "
               "(decode: K and V read once per key head); auto does too, except that a GPU "
               "generation kernel packs only where it pays; off keeps a row per query head")
      ->check(CLI::IsMember({"auto", "on", "off"}));
}

Expected<compiler::KernelSpec> SpecOptions::toSpec(const compiler::Target &target) const {
  runtime::MaskFileMeta meta;
  auto mask = runtime::readMaskFile(maskPath, layer, &meta);
  if (!mask)
    return mask.error();
  compiler::KernelSpec spec;
  spec.mask = std::move(*mask);
  spec.target = target;
  spec.causal = causal;
  auto align = runtime::parseCausalAlign(causalAlign);
  if (!align)
    return align.error();
  spec.causalAlign = *align;
  spec.generation = generation;
  spec.scale = scale;
  spec.options = kernel;
  runtime::ProblemShape &s = spec.shape;
  s.batch = batch;
  s.headsQ = spec.mask.heads();
  s.headsKv = headsKv.value_or(s.headsQ);
  s.seqQ = seqQ ? *seqQ : meta.seqQ.value_or(spec.mask.queryBlocks() * spec.mask.blockQ());
  s.seqK = seqK ? *seqK : meta.seqK.value_or(spec.mask.keyBlocks() * spec.mask.blockK());
  s.headDim = headDim;
  if (dtype == "auto") {
    s.dtype = target.backend == runtime::Backend::Cuda ? runtime::DType::BF16 : runtime::DType::F32;
  } else {
    auto d = runtime::parseDType(dtype);
    if (!d)
      return d.error();
    s.dtype = *d;
  }
  if (Error e = spec.validate())
    return e;
  return spec;
}

namespace {

/// This machine's first GPU, with its own SM count and shared memory; none
/// when there is no driver or no GPU.
Expected<std::optional<compiler::Target>> localGpu() {
  if (!runtime::CudaDriver::available())
    return std::optional<compiler::Target>();
  auto driver = runtime::CudaDriver::get();
  if (!driver)
    return std::optional<compiler::Target>();
  auto device = (*driver)->device().target();
  if (!device)
    return device.error();
  return std::optional<compiler::Target>(compiler::Target::of(*device));
}

} // namespace

Expected<compiler::Target> parseTarget(const std::string &name, std::string *note) {
  if (name == "cpu" || name == "host")
    return compiler::Target::cpu();
  if (compiler::isSupportedChip(name))
    return compiler::Target::cuda(name);
  if (name == "auto" || name == "cuda") {
    auto gpu = localGpu();
    if (!gpu)
      return gpu.error();
    if (*gpu)
      return **gpu;
    if (name == "auto")
      return compiler::Target::cpu();
    if (note)
      *note = fmt::format("no GPU here: --target cuda compiles for {} (name a chip to choose "
                          "another)",
                          kDefaultChip);
    return compiler::Target::cuda(kDefaultChip);
  }
  return Error(ErrorCode::InvalidArgument,
               fmt::format("unknown target '{}' (expected auto, cuda, cpu, sm_80, sm_86, sm_89, "
                           "sm_90 or sm_90a)",
                           name));
}

std::string targetHelp() {
  return fmt::format("auto: this machine's GPU if it has one, else cpu; cuda: this machine's GPU, "
                     "else {}; cpu; or a chip: sm_80, sm_86, sm_89, sm_90, sm_90a",
                     kDefaultChip);
}

int reportError(const Error &error) {
  std::fprintf(stderr, "error: %s\n", error.str().c_str());
  return 1;
}

} // namespace sieve::tools
