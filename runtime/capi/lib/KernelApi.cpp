//===- KernelApi.cpp - sieve_kernel_* and sieve_mask_* --------------------===//
#include "Handles.h"

#include "sieve/compiler/KernelSpec.h"

#include <optional>

using namespace sieve;
using namespace sieve::capi;

namespace {

Expected<runtime::BlockMask> maskOf(const sieve_block_mask *mask, const char *what) {
  if (!mask)
    return Error(ErrorCode::InvalidArgument, std::string(what) + ": `mask` is null");
  auto m =
      runtime::BlockMask::fromPackedBits(mask->heads, mask->query_blocks, mask->key_blocks,
                                         mask->block_q, mask->block_k, mask->bits, mask->bits_size);
  if (!m)
    return m.error().withContext(what);
  return m;
}

/// sieve_problem's `causal` (a sieve_causal) as the spec's two fields.
Error setCausal(compiler::KernelSpec &spec, int causal, const char *what) {
  switch (causal) {
  case SIEVE_CAUSAL_NONE:
  case SIEVE_CAUSAL_TOP_LEFT:
  case SIEVE_CAUSAL_BOTTOM_RIGHT:
    spec.causal = causal != SIEVE_CAUSAL_NONE;
    spec.causalAlign = causal == SIEVE_CAUSAL_BOTTOM_RIGHT ? runtime::CausalAlign::BottomRight
                                                           : runtime::CausalAlign::TopLeft;
    return Error::success();
  default:
    return Error(ErrorCode::InvalidArgument,
                 std::string(what) + ": `causal` " + std::to_string(causal) +
                     " is not a sieve_causal (0 none, 1 top-left, 2 bottom-right)");
  }
}

/// sieve_mask_create and sieve_mask_create_causal; without `seqK`, the
/// keys the mask's blocks span (top-left masks do not depend on it).
sieve_status createMask(sieve_context ctx, const sieve_block_mask *mask, int64_t seqQ,
                        std::optional<int64_t> seqK, int causal, sieve_mask *out,
                        const char *what) {
  if (out)
    *out = nullptr;
  return guarded([&] {
    if (!Registry<sieve_context_t>::get().contains(ctx))
      return fail(SIEVE_ERROR_INVALID_HANDLE, std::string(what) + ": not a live context");
    if (!out)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT, std::string(what) + ": `out` is null");
    compiler::KernelSpec spec;
    if (Error e = setCausal(spec, causal, what))
      return fail(e);
    auto m = maskOf(mask, what);
    if (!m)
      return fail(m.error());
    // Every key the mask's blocks span is its sequence; a span past int64
    // (block_k is the caller's) covers no sequence at all.
    int64_t span = 0;
    if (__builtin_mul_overflow(m->keyBlocks(), m->blockK(), &span))
      return fail(SIEVE_ERROR_SHAPE_MISMATCH,
                  std::string(what) + ": " + std::to_string(m->keyBlocks()) +
                      " key blocks of block_k=" + std::to_string(m->blockK()) +
                      " span more keys than any sequence has");
    if (!seqK && spec.causalAlign == runtime::CausalAlign::BottomRight)
      return fail(
          SIEVE_ERROR_INVALID_ARGUMENT,
          std::string(what) +
              ": a bottom-right causal mask depends on seq_k: use sieve_mask_create_causal");
    if (seqK && *seqK <= 0)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                  std::string(what) + ": `seq_k` " + std::to_string(*seqK) + " is not positive");
    if (Error e = m->checkCovers(m->heads(), seqQ, seqK.value_or(span)))
      return fail(e.withContext(what));
    auto tables = ctx->session->uploadMask(
        *m, seqQ, runtime::CausalRule::of(spec.causal, spec.causalAlign, seqQ, seqK.value_or(0)));
    if (!tables)
      return fail(tables.error().withContext(what));
    auto handle = std::make_unique<sieve_mask_t>();
    handle->session = ctx->session;
    handle->tables = std::move(*tables);
    *out = Registry<sieve_mask_t>::get().add(std::move(handle));
    return succeed();
  });
}

} // namespace

extern "C" {

sieve_status sieve_kernel_compile(sieve_context ctx, const sieve_problem *problem,
                                  const sieve_block_mask *mask, const sieve_kernel_options *options,
                                  sieve_kernel *out) {
  return sieve_kernel_compile_kind(ctx, problem, mask, options, SIEVE_KERNEL_FORWARD, out);
}

sieve_status sieve_kernel_compile_kind(sieve_context ctx, const sieve_problem *problem,
                                       const sieve_block_mask *mask,
                                       const sieve_kernel_options *options, sieve_kernel_kind kind,
                                       sieve_kernel *out) {
  return sieve_kernel_compile_flags(ctx, problem, mask, options, kind, 0, out);
}

namespace {

/// sieve_kernel_compile_flags and sieve_kernel_compile_batch: `pageSize`
/// is 0 for contiguous K and V.
sieve_status compileKernel(sieve_context ctx, const sieve_problem *problem,
                           const sieve_block_mask *mask, const sieve_kernel_options *options,
                           sieve_kernel_kind kind, uint32_t flags, int64_t pageSize,
                           const char *what, sieve_kernel *out) {
  // NULL on every failure, the first ones included: a caller that checks
  // only *out (or frees it on error) must not see a stale handle.
  if (out)
    *out = nullptr;
  return guarded([&] {
    if ((flags & ~(SIEVE_KERNEL_THRESHOLDS | SIEVE_KERNEL_RAGGED | SIEVE_KERNEL_GENERATION)) != 0)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                  std::string(what) +
                      ": `flags` has bits other than SIEVE_KERNEL_THRESHOLDS, "
                      "SIEVE_KERNEL_RAGGED and SIEVE_KERNEL_GENERATION (" +
                      std::to_string(flags) + ")");
    const bool generation = (flags & SIEVE_KERNEL_GENERATION) != 0;
    if (generation) {
      // Checked here in the C API's words; the spec's own checks would name
      // KernelSpec fields.
      if (kind != SIEVE_KERNEL_FORWARD)
        return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                    std::string(what) +
                        ": SIEVE_KERNEL_GENERATION runs the forward only: `kind` must be "
                        "SIEVE_KERNEL_FORWARD");
      if (flags & SIEVE_KERNEL_RAGGED)
        return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                    std::string(what) +
                        ": SIEVE_KERNEL_GENERATION does not combine with SIEVE_KERNEL_RAGGED");
    }
    if (kind != SIEVE_KERNEL_FORWARD && kind != SIEVE_KERNEL_FORWARD_LSE &&
        kind != SIEVE_KERNEL_BACKWARD)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT, std::string(what) + ": `kind` " +
                                                    std::to_string(static_cast<int>(kind)) +
                                                    " is not a sieve_kernel_kind");
    if (!Registry<sieve_context_t>::get().contains(ctx))
      return fail(SIEVE_ERROR_INVALID_HANDLE, std::string(what) + ": not a live context");
    if (!problem || !out)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                  std::string(what) + ": `" + (problem ? "out" : "problem") + "` is null");
    compiler::KernelSpec spec;
    auto dtype = dtypeOf(problem->dtype, what);
    if (!dtype)
      return fail(dtype.error());
    spec.shape = {problem->batch, problem->heads_q, problem->heads_kv,
                  problem->seq_q, problem->seq_k,   problem->head_dim,
                  *dtype};
    if (Error e = setCausal(spec, problem->causal, what))
      return fail(e);
    if (generation && spec.causal) {
      // A generation kernel is causal over positions: query i (position
      // q_pos + i) sees keys j <= q_pos + i, which is bottom-right causal
      // when the step's own keys are the last live ones. Top-left would
      // mean j <= i, which no step of generation wants.
      if (spec.causalAlign != runtime::CausalAlign::BottomRight)
        return fail(
            SIEVE_ERROR_INVALID_ARGUMENT,
            std::string(what) +
                ": a SIEVE_KERNEL_GENERATION kernel is causal over positions (query i "
                "at position q_pos + i sees keys j <= q_pos + i): pass "
                "SIEVE_CAUSAL_BOTTOM_RIGHT or SIEVE_CAUSAL_NONE, not SIEVE_CAUSAL_TOP_LEFT");
      spec.causalAlign = runtime::CausalAlign::TopLeft; // the spec's "no alignment given"
    }
    if (problem->scale != 0)
      spec.scale = problem->scale;
    auto m = maskOf(mask, what);
    if (!m)
      return fail(m.error());
    spec.mask = std::move(*m);
    if (options) {
      if (options->variant)
        spec.options.variant = options->variant;
      spec.options.queryTile = options->query_tile;
      spec.options.keyTile = options->key_tile;
      spec.options.stages = options->stages;
    }
    spec.saveLse = kind == SIEVE_KERNEL_FORWARD_LSE;
    spec.backward = kind == SIEVE_KERNEL_BACKWARD;
    spec.thresholds = (flags & SIEVE_KERNEL_THRESHOLDS) != 0;
    spec.ragged = (flags & SIEVE_KERNEL_RAGGED) != 0;
    spec.generation = generation;
    spec.pageSize = pageSize;
    auto artifact = ctx->session->compile(std::move(spec));
    if (!artifact)
      return fail(artifact.error().withContext(what));
    auto kernel = std::make_unique<sieve_kernel_t>();
    kernel->session = ctx->session;
    kernel->artifact = std::move(*artifact);
    *out = Registry<sieve_kernel_t>::get().add(std::move(kernel));
    return succeed();
  });
}

} // namespace

sieve_status sieve_kernel_compile_flags(sieve_context ctx, const sieve_problem *problem,
                                        const sieve_block_mask *mask,
                                        const sieve_kernel_options *options, sieve_kernel_kind kind,
                                        uint32_t flags, sieve_kernel *out) {
  const char *what = flags != 0                     ? "sieve_kernel_compile_flags"
                     : kind == SIEVE_KERNEL_FORWARD ? "sieve_kernel_compile"
                                                    : "sieve_kernel_compile_kind";
  return compileKernel(ctx, problem, mask, options, kind, flags, 0, what, out);
}

sieve_status sieve_kernel_compile_batch(sieve_context ctx, const sieve_problem *problem,
                                        const sieve_block_mask *mask,
                                        const sieve_kernel_options *options, uint32_t flags,
                                        int64_t page_size, sieve_kernel *out) {
  const char *what = "sieve_kernel_compile_batch";
  if (flags & SIEVE_KERNEL_GENERATION) {
    if (out)
      *out = nullptr;
    return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                std::string(what) +
                    ": SIEVE_KERNEL_GENERATION kernels come from "
                    "sieve_kernel_compile_flags (a generation step is not a batch)");
  }
  return compileKernel(ctx, problem, mask, options, SIEVE_KERNEL_FORWARD, flags, page_size, what,
                       out);
}

sieve_status sieve_kernel_load(sieve_context ctx, const char *stem, sieve_kernel *out) {
  const char *what = "sieve_kernel_load";
  if (out)
    *out = nullptr;
  return guarded([&] {
    if (!Registry<sieve_context_t>::get().contains(ctx))
      return fail(SIEVE_ERROR_INVALID_HANDLE, std::string(what) + ": not a live context");
    if (!stem || !out)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                  std::string(what) + ": `" + (stem ? "out" : "stem") + "` is null");
    auto artifact = runtime::Artifact::load(std::string(stem) + ".json");
    if (!artifact)
      return fail(artifact.error().withContext(what));
    if (artifact->backend != ctx->session->backend())
      return fail(SIEVE_ERROR_UNSUPPORTED, std::string(what) + ": " + stem + " is a " +
                                               runtime::backendName(artifact->backend) +
                                               " artifact; this context runs the " +
                                               runtime::backendName(ctx->session->backend()) +
                                               " backend");
    auto kernel = std::make_unique<sieve_kernel_t>();
    kernel->session = ctx->session;
    kernel->artifact = std::make_shared<const runtime::Artifact>(std::move(*artifact));
    *out = Registry<sieve_kernel_t>::get().add(std::move(kernel));
    return succeed();
  });
}

sieve_status sieve_kernel_destroy(sieve_kernel kernel) {
  return guarded([&] {
    if (!Registry<sieve_kernel_t>::get().take(kernel))
      return fail(SIEVE_ERROR_INVALID_HANDLE,
                  "sieve_kernel_destroy: not a live kernel (null, or destroyed already)");
    return succeed();
  });
}

sieve_status sieve_kernel_describe(sieve_kernel kernel, char *buf, size_t size) {
  return guarded([&] {
    if (!Registry<sieve_kernel_t>::get().contains(kernel))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_kernel_describe: not a live kernel");
    const runtime::Artifact &a = *kernel->artifact;
    return copyOut(a.variant + " " + a.config, buf, size, "sieve_kernel_describe");
  });
}

sieve_status sieve_kernel_variant(sieve_kernel kernel, char *buf, size_t size) {
  return guarded([&] {
    if (!Registry<sieve_kernel_t>::get().contains(kernel))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_kernel_variant: not a live kernel");
    return copyOut(kernel->artifact->variant, buf, size, "sieve_kernel_variant");
  });
}

sieve_status sieve_kernel_warnings(sieve_kernel kernel, char *buf, size_t size) {
  return guarded([&] {
    if (!Registry<sieve_kernel_t>::get().contains(kernel))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_kernel_warnings: not a live kernel");
    std::string lines;
    for (const std::string &warning : kernel->artifact->warnings)
      lines += (lines.empty() ? "" : "\n") + warning;
    return copyOut(lines, buf, size, "sieve_kernel_warnings");
  });
}

sieve_status sieve_kernel_needs_mask(sieve_kernel kernel, int *out) {
  return guarded([&] {
    if (!Registry<sieve_kernel_t>::get().contains(kernel))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_kernel_needs_mask: not a live kernel");
    if (!out)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT, "sieve_kernel_needs_mask: `out` is null");
    *out = kernel->artifact->maskAtLaunch() ? 1 : 0;
    return succeed();
  });
}

sieve_status sieve_kernel_needs_thresholds(sieve_kernel kernel, int *out) {
  return guarded([&] {
    if (!Registry<sieve_kernel_t>::get().contains(kernel))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_kernel_needs_thresholds: not a live kernel");
    if (!out)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT, "sieve_kernel_needs_thresholds: `out` is null");
    *out = kernel->artifact->thresholds ? 1 : 0;
    return succeed();
  });
}

sieve_status sieve_mask_create(sieve_context ctx, const sieve_block_mask *mask, int64_t seq_q,
                               int causal, sieve_mask *out) {
  return createMask(ctx, mask, seq_q, std::nullopt, causal, out, "sieve_mask_create");
}

sieve_status sieve_mask_create_causal(sieve_context ctx, const sieve_block_mask *mask,
                                      int64_t seq_q, int64_t seq_k, int causal, sieve_mask *out) {
  return createMask(ctx, mask, seq_q, seq_k, causal, out, "sieve_mask_create_causal");
}

sieve_status sieve_mask_destroy(sieve_mask mask) {
  return guarded([&] {
    if (!Registry<sieve_mask_t>::get().take(mask))
      return fail(SIEVE_ERROR_INVALID_HANDLE,
                  "sieve_mask_destroy: not a live mask (null, or destroyed already)");
    return succeed();
  });
}

} // extern "C"
