//===- AttentionApi.cpp - sieve_attention ---------------------------------===//
#include "Handles.h"

#include "sieve/runtime/BatchLayout.h"
#include "sieve/runtime/TensorView.h"

#include <fmt/format.h>

using namespace sieve;
using namespace sieve::capi;

namespace {

Expected<runtime::TensorView> viewOf(const sieve_tensor *t, const char *name,
                                     runtime::DeviceKind device,
                                     const char *what = "sieve_attention") {
  if (!t)
    return Error(ErrorCode::InvalidArgument, std::string(what) + ": `" + name + "` is null");
  runtime::TensorView view;
  auto dtype = dtypeOf(t->dtype, std::string(what) + ": tensor '" + name + "'");
  if (!dtype)
    return dtype.error();
  view.dtype = *dtype;
  view.data = t->data;
  for (int d = 0; d < 4; ++d) {
    view.sizes[d] = t->sizes[d];
    view.strides[d] = t->strides[d];
  }
  view.device = device;
  return view;
}

/// The views of named C tensors, each into its runtime view.
struct NamedTensor {
  const char *name;
  const sieve_tensor *from;
  runtime::TensorView *to;
};
Error viewsOf(std::initializer_list<NamedTensor> tensors, runtime::DeviceKind device,
              const char *what) {
  for (const NamedTensor &n : tensors) {
    auto view = viewOf(n.from, n.name, device, what);
    if (!view)
      return view.error();
    *n.to = *view;
  }
  return Error::success();
}

/// What a kernel is, in the C API's words.
std::string kindName(const runtime::Artifact &a) {
  if (a.calibrate)
    return "a calibration kernel (sieve compile --calibrate)";
  if (a.generation)
    return fmt::format("a {}generation kernel (SIEVE_KERNEL_GENERATION)",
                       a.thresholds ? "threshold-mode " : "");
  if (a.ragged || a.pageSize)
    return fmt::format("a {}{} kernel (sieve_kernel_compile_batch)",
                       a.thresholds ? "threshold-mode " : "",
                       a.ragged && a.pageSize ? "ragged, paged"
                       : a.ragged             ? "ragged"
                                              : "paged");
  const char *kind = a.backward   ? "SIEVE_KERNEL_BACKWARD"
                     : a.savesLse ? "SIEVE_KERNEL_FORWARD_LSE"
                                  : "SIEVE_KERNEL_FORWARD";
  return fmt::format("a {}{} kernel", a.thresholds ? "threshold-mode " : "", kind);
}

/// The entry point that runs `a`, or "" when the C API has none.
std::string entryFor(const runtime::Artifact &a) {
  if (a.calibrate)
    return "";
  if (a.ragged || a.pageSize)
    return "sieve_attention_batch";
  if (a.generation)
    return "sieve_attention_generate";
  std::string entry = a.backward   ? "sieve_attention_backward"
                      : a.savesLse ? "sieve_attention_forward"
                                   : "sieve_attention";
  return a.thresholds ? entry + "_thresholds" : entry;
}

/// Checked here, before the runtime, whose messages name the C++ API
/// (Session::forward, KernelSpec::saveLse): a C caller reads C names.
Error checkEntry(const runtime::Artifact &a, const char *what) {
  const std::string entry = entryFor(a);
  if (entry == what)
    return Error::success();
  if (entry.empty())
    return Error(
        ErrorCode::InvalidArgument,
        fmt::format("{}: the kernel is {}, which the C API does not run", what, kindName(a)));
  const char *takes = a.generation                 ? ", which takes the step's q_pos and seq_k_live"
                      : a.savesLse && a.thresholds ? ", which takes its lse buffer and thresholds"
                      : a.savesLse                 ? ", which takes its lse buffer"
                      : a.thresholds               ? ", which takes its thresholds"
                                                   : "";
  return Error(ErrorCode::InvalidArgument, fmt::format("{}: the kernel is {}; run it with {}{}",
                                                       what, kindName(a), entry, takes));
}

/// The *_thresholds entry points' own check: the buffer is there.
Error checkThresholdsGiven(const float *thresholds, const char *what) {
  if (thresholds)
    return Error::success();
  return Error(ErrorCode::InvalidArgument,
               std::string(what) +
                   ": `thresholds` is null (a float [Hq] buffer, one threshold per query head)");
}

/// Where a kernel runs, once the checks every attention entry point makes
/// first have passed (a live kernel; a stream only for a GPU context; the
/// entry point that runs this kind of kernel; the thresholds a
/// threshold-mode kernel takes, and none for any other); else `status` is
/// the failure, already reported through sieve_last_error.
struct LaunchTarget {
  sieve_status status = SIEVE_OK;
  compiler::Session *session = nullptr;
  runtime::DeviceKind device = runtime::DeviceKind::Host;
};
LaunchTarget openLaunch(const char *what, sieve_kernel kernel, void *stream,
                        const float *thresholds) {
  if (!Registry<sieve_kernel_t>::get().contains(kernel))
    return {fail(SIEVE_ERROR_INVALID_HANDLE, std::string(what) + ": not a live kernel")};
  compiler::Session &session = *kernel->session;
  const bool gpu = session.backend() == runtime::Backend::Cuda;
  if (!gpu && stream)
    return {fail(SIEVE_ERROR_INVALID_ARGUMENT,
                 std::string(what) + ": a stream was given to a CPU context (pass NULL)")};
  if (Error e = checkEntry(*kernel->artifact, what))
    return {fail(e)};
  if (kernel->artifact->thresholds) {
    if (Error e = checkThresholdsGiven(thresholds, what))
      return {fail(e)};
  } else if (thresholds) {
    // The entry points whose thresholds are optional (batch, generate); the
    // *_thresholds ones refused such a kernel in checkEntry already.
    return {fail(SIEVE_ERROR_INVALID_ARGUMENT,
                 std::string(what) + ": `thresholds` given to a kernel compiled without "
                                     "SIEVE_KERNEL_THRESHOLDS (pass NULL)")};
  }
  return {SIEVE_OK, &session, gpu ? runtime::DeviceKind::Cuda : runtime::DeviceKind::Host};
}

/// sieve_attention_forward and its threshold-mode twin.
sieve_status attentionForward(const char *what, sieve_kernel kernel, const sieve_tensor *q,
                              const sieve_tensor *k, const sieve_tensor *v, const sieve_tensor *out,
                              float *lse, const float *thresholds, void *stream) {
  LaunchTarget target = openLaunch(what, kernel, stream, thresholds);
  if (target.status != SIEVE_OK)
    return target.status;
  if (!lse)
    return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                std::string(what) + ": `lse` is null (a float [B, Hq, Sq] buffer it writes)");
  runtime::TensorView qv, kv, vv, ov;
  if (Error e = viewsOf({{"q", q, &qv}, {"k", k, &kv}, {"v", v, &vv}, {"out", out, &ov}},
                        target.device, what))
    return fail(e);
  if (Error e = target.session->forward(*kernel->artifact, qv, kv, vv, ov, lse,
                                        static_cast<runtime::CuStream>(stream), thresholds))
    return fail(e.withContext(what));
  return succeed();
}

/// sieve_attention_backward and its threshold-mode twin.
sieve_status attentionBackward(const char *what, sieve_kernel kernel, const sieve_tensor *q,
                               const sieve_tensor *k, const sieve_tensor *v,
                               const sieve_tensor *out, const sieve_tensor *dout, const float *lse,
                               const float *thresholds, const sieve_tensor *dq,
                               const sieve_tensor *dk, const sieve_tensor *dv, void *stream) {
  LaunchTarget target = openLaunch(what, kernel, stream, thresholds);
  if (target.status != SIEVE_OK)
    return target.status;
  if (!lse)
    return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                std::string(what) + ": `lse` is null (the forward's log-sum-exp, from "
                                    "sieve_attention_forward)");
  runtime::BackwardTensors t;
  if (Error e = viewsOf({{"q", q, &t.q},
                         {"k", k, &t.k},
                         {"v", v, &t.v},
                         {"out", out, &t.out},
                         {"dout", dout, &t.dout},
                         {"dq", dq, &t.dq},
                         {"dk", dk, &t.dk},
                         {"dv", dv, &t.dv}},
                        target.device, what))
    return fail(e);
  t.lse = lse;
  t.thresholds = thresholds;
  if (Error e =
          target.session->backward(*kernel->artifact, t, static_cast<runtime::CuStream>(stream)))
    return fail(e.withContext(what));
  return succeed();
}

/// sieve_attention and its threshold-mode twin.
sieve_status attention(const char *what, sieve_kernel kernel, const sieve_tensor *q,
                       const sieve_tensor *k, const sieve_tensor *v, const sieve_tensor *out,
                       const float *thresholds, sieve_mask mask, void *stream) {
  LaunchTarget target = openLaunch(what, kernel, stream, thresholds);
  if (target.status != SIEVE_OK)
    return target.status;
  const runtime::DeviceRowTables *tables = nullptr;
  if (mask) {
    if (!Registry<sieve_mask_t>::get().contains(mask))
      return fail(SIEVE_ERROR_INVALID_HANDLE, std::string(what) + ": `mask` is not a live mask");
    if (mask->session != kernel->session)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                  std::string(what) + ": the mask and the kernel belong to different contexts");
    tables = mask->tables.get();
  }
  runtime::TensorView qv, kv, vv, ov;
  if (Error e = viewsOf({{"q", q, &qv}, {"k", k, &kv}, {"v", v, &vv}, {"out", out, &ov}},
                        target.device, what))
    return fail(e);
  if (Error e = target.session->run(*kernel->artifact, qv, kv, vv, ov,
                                    static_cast<runtime::CuStream>(stream), tables, thresholds))
    return fail(e.withContext(what));
  return succeed();
}

/// sieve_attention_batch.
sieve_status attentionBatch(const char *what, sieve_kernel kernel, const sieve_tensor *q,
                            const sieve_tensor *k, const sieve_tensor *v, const sieve_tensor *out,
                            const runtime::BatchLayout &layout, const float *thresholds,
                            void *stream) {
  LaunchTarget target = openLaunch(what, kernel, stream, thresholds);
  if (target.status != SIEVE_OK)
    return target.status;
  runtime::TensorView qv, kv, vv, ov;
  if (Error e = viewsOf({{"q", q, &qv}, {"k", k, &kv}, {"v", v, &vv}, {"out", out, &ov}},
                        target.device, what))
    return fail(e);
  if (Error e = target.session->runBatch(*kernel->artifact, qv, kv, vv, ov, layout,
                                         static_cast<runtime::CuStream>(stream), thresholds))
    return fail(e.withContext(what));
  return succeed();
}

/// sieve_attention_generate.
sieve_status attentionGenerate(const char *what, sieve_kernel kernel, const sieve_tensor *q,
                               const sieve_tensor *k, const sieve_tensor *v,
                               const sieve_tensor *out, int64_t qPos, int64_t seqKLive,
                               const float *thresholds, void *stream) {
  LaunchTarget target = openLaunch(what, kernel, stream, thresholds);
  if (target.status != SIEVE_OK)
    return target.status;
  runtime::TensorView qv, kv, vv, ov;
  if (Error e = viewsOf({{"q", q, &qv}, {"k", k, &kv}, {"v", v, &vv}, {"out", out, &ov}},
                        target.device, what))
    return fail(e);
  if (Error e = target.session->generate(*kernel->artifact, qv, kv, vv, ov, {qPos, seqKLive},
                                         static_cast<runtime::CuStream>(stream), thresholds))
    return fail(e.withContext(what));
  return succeed();
}

} // namespace

extern "C" {

sieve_status sieve_attention_generate(sieve_kernel kernel, const sieve_tensor *q,
                                      const sieve_tensor *k, const sieve_tensor *v,
                                      const sieve_tensor *out, int64_t q_pos, int64_t seq_k_live,
                                      const float *thresholds, void *stream) {
  return guarded([&] {
    return attentionGenerate("sieve_attention_generate", kernel, q, k, v, out, q_pos, seq_k_live,
                             thresholds, stream);
  });
}

sieve_status sieve_attention_batch(sieve_kernel kernel, const sieve_tensor *q,
                                   const sieve_tensor *k, const sieve_tensor *v,
                                   const sieve_tensor *out, const int32_t *cu_seqlens_q,
                                   const int32_t *cu_seqlens_k, const int32_t *page_table,
                                   const float *thresholds, void *stream) {
  return guarded([&] {
    return attentionBatch("sieve_attention_batch", kernel, q, k, v, out,
                          {cu_seqlens_q, cu_seqlens_k, page_table}, thresholds, stream);
  });
}

sieve_status sieve_attention(sieve_kernel kernel, const sieve_tensor *q, const sieve_tensor *k,
                             const sieve_tensor *v, const sieve_tensor *out, sieve_mask mask,
                             void *stream) {
  return guarded(
      [&] { return attention("sieve_attention", kernel, q, k, v, out, nullptr, mask, stream); });
}

sieve_status sieve_attention_thresholds(sieve_kernel kernel, const sieve_tensor *q,
                                        const sieve_tensor *k, const sieve_tensor *v,
                                        const sieve_tensor *out, const float *thresholds,
                                        sieve_mask mask, void *stream) {
  return guarded([&] {
    return attention("sieve_attention_thresholds", kernel, q, k, v, out, thresholds, mask, stream);
  });
}

sieve_status sieve_attention_forward(sieve_kernel kernel, const sieve_tensor *q,
                                     const sieve_tensor *k, const sieve_tensor *v,
                                     const sieve_tensor *out, float *lse, void *stream) {
  return guarded([&] {
    return attentionForward("sieve_attention_forward", kernel, q, k, v, out, lse, nullptr, stream);
  });
}

sieve_status sieve_attention_forward_thresholds(sieve_kernel kernel, const sieve_tensor *q,
                                                const sieve_tensor *k, const sieve_tensor *v,
                                                const sieve_tensor *out, float *lse,
                                                const float *thresholds, void *stream) {
  return guarded([&] {
    return attentionForward("sieve_attention_forward_thresholds", kernel, q, k, v, out, lse,
                            thresholds, stream);
  });
}

sieve_status sieve_attention_backward(sieve_kernel kernel, const sieve_tensor *q,
                                      const sieve_tensor *k, const sieve_tensor *v,
                                      const sieve_tensor *out, const sieve_tensor *dout,
                                      const float *lse, const sieve_tensor *dq,
                                      const sieve_tensor *dk, const sieve_tensor *dv,
                                      void *stream) {
  return guarded([&] {
    return attentionBackward("sieve_attention_backward", kernel, q, k, v, out, dout, lse, nullptr,
                             dq, dk, dv, stream);
  });
}

sieve_status sieve_attention_backward_thresholds(sieve_kernel kernel, const sieve_tensor *q,
                                                 const sieve_tensor *k, const sieve_tensor *v,
                                                 const sieve_tensor *out, const sieve_tensor *dout,
                                                 const float *lse, const float *thresholds,
                                                 const sieve_tensor *dq, const sieve_tensor *dk,
                                                 const sieve_tensor *dv, void *stream) {
  return guarded([&] {
    return attentionBackward("sieve_attention_backward_thresholds", kernel, q, k, v, out, dout, lse,
                             thresholds, dq, dk, dv, stream);
  });
}

} // extern "C"
