//===- ContextApi.cpp - sieve_context_* -----------------------------------===//
#include "Handles.h"

using namespace sieve;
using namespace sieve::capi;

extern "C" {

sieve_status sieve_context_create(sieve_backend backend, int device, sieve_context *out) {
  if (out)
    *out = nullptr;
  return guarded([&] {
    if (!out)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT, "sieve_context_create: `out` is null");
    compiler::BackendChoice choice;
    switch (backend) {
    case SIEVE_BACKEND_AUTO:
      choice = compiler::BackendChoice::Auto;
      break;
    case SIEVE_BACKEND_CPU:
      choice = compiler::BackendChoice::Cpu;
      break;
    case SIEVE_BACKEND_CUDA:
      choice = compiler::BackendChoice::Cuda;
      break;
    default:
      return fail(SIEVE_ERROR_INVALID_ARGUMENT,
                  "sieve_context_create: unknown backend " + std::to_string(int(backend)));
    }
    if (device < 0)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT, "sieve_context_create: device ordinal " +
                                                    std::to_string(device) + " is negative");
    auto session = compiler::Session::create(choice, device);
    if (!session)
      return fail(session.error());
    auto ctx = std::make_unique<sieve_context_t>();
    ctx->session = std::move(*session);
    *out = Registry<sieve_context_t>::get().add(std::move(ctx));
    return succeed();
  });
}

sieve_status sieve_context_destroy(sieve_context ctx) {
  return guarded([&] {
    if (!Registry<sieve_context_t>::get().take(ctx))
      return fail(SIEVE_ERROR_INVALID_HANDLE,
                  "sieve_context_destroy: not a live context (null, or destroyed already)");
    return succeed();
  });
}

sieve_status sieve_context_backend(sieve_context ctx, sieve_backend *out) {
  return guarded([&] {
    if (!Registry<sieve_context_t>::get().contains(ctx))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_context_backend: not a live context");
    if (!out)
      return fail(SIEVE_ERROR_INVALID_ARGUMENT, "sieve_context_backend: `out` is null");
    *out =
        ctx->session->backend() == runtime::Backend::Cuda ? SIEVE_BACKEND_CUDA : SIEVE_BACKEND_CPU;
    return succeed();
  });
}

sieve_status sieve_context_device_name(sieve_context ctx, char *buf, size_t size) {
  return guarded([&] {
    if (!Registry<sieve_context_t>::get().contains(ctx))
      return fail(SIEVE_ERROR_INVALID_HANDLE, "sieve_context_device_name: not a live context");
    return copyOut(ctx->session->deviceName(), buf, size, "sieve_context_device_name");
  });
}

} // extern "C"
