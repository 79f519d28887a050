//===- AttentionApi.cpp - sieve_attention ---------------------------------===//
#include "Handles.h"

#include "sieve/runtime/TensorView.h"

using namespace sieve;
using namespace sieve::capi;

namespace {

Expected<runtime::TensorView> viewOf(const sieve_tensor *t, const char *name,
                                     runtime::DeviceKind device) {
  if (!t)
    return Error(ErrorCode::InvalidArgument,
                 std::string("sieve_attention: `") + name + "` is null");
  runtime::TensorView view;
  auto dtype = dtypeOf(t->dtype, std::string("sieve_attention: tensor '") + name + "'");
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

} // namespace

extern "C" {

sieve_status sieve_attention(sieve_kernel kernel, const sieve_tensor *q, const sieve_tensor *k,
                             const sieve_tensor *v, const sieve_tensor *out, sieve_mask mask,
                             void *stream) {
  return guarded([&] {
    if (!Registry<sieve_kernel_t>::get().contains(kernel))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_attention: not a live kernel");
    compiler::Session &session = *kernel->session;
    bool gpu = session.backend() == runtime::Backend::Cuda;
    if (!gpu && stream)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                  "sieve_attention: a stream was given to a CPU context (pass NULL)");
    const runtime::DeviceRowTables *tables = nullptr;
    if (mask) {
      if (!Registry<sieve_mask_t>::get().contains(mask))
        return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_attention: `mask` is not a live mask");
      if (mask->session != kernel->session)
        return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                    "sieve_attention: the mask and the kernel belong to different contexts");
      tables = mask->tables.get();
    }
    auto device = gpu ? runtime::DeviceKind::Cuda : runtime::DeviceKind::Host;
    auto qv = viewOf(q, "q", device);
    auto kv = viewOf(k, "k", device);
    auto vv = viewOf(v, "v", device);
    auto ov = viewOf(out, "out", device);
    for (auto *view : {&qv, &kv, &vv, &ov})
      if (!*view)
        return fail(view->error());
    if (Error e = session.run(*kernel->artifact, *qv, *kv, *vv, *ov,
                              static_cast<runtime::CuStream>(stream), tables))
      return fail(e.withContext("sieve_attention"));
    return succeed();
  });
}

} // extern "C"
