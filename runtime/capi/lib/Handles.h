//===- Handles.h - what the C API's opaque handles hold ---------*- C++ -*-===//
//
// Each handle kind has a registry of live handles, so a freed, foreign or
// wrong-kind pointer is rejected by lookup, never dereferenced. Kernels and
// masks share ownership of their context's session: destroying handles in
// any order is safe.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CAPI_HANDLES_H
#define SIEVE_CAPI_HANDLES_H

#include "sieve/compiler/Session.h"
#include "sieve/runtime/DeviceRowTables.h"
#include "sieve/sieve.h"

#include <memory>
#include <mutex>
#include <unordered_set>

struct sieve_context_t {
  std::shared_ptr<sieve::compiler::Session> session;
};

struct sieve_kernel_t {
  std::shared_ptr<sieve::compiler::Session> session;
  std::shared_ptr<const sieve::runtime::Artifact> artifact;
};

struct sieve_mask_t {
  std::shared_ptr<sieve::compiler::Session> session;
  std::unique_ptr<sieve::runtime::DeviceRowTables> tables;
};

namespace sieve::capi {

/// The live handles of one kind.
template <typename T> class Registry {
public:
  static Registry &get() {
    static Registry registry;
    return registry;
  }
  T *add(std::unique_ptr<T> handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    T *raw = handle.release();
    live_.insert(raw);
    return raw;
  }
  bool contains(T *handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.count(handle) != 0;
  }
  /// Removes and returns ownership; null when `handle` is not live.
  std::unique_ptr<T> take(T *handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!live_.erase(handle))
      return nullptr;
    return std::unique_ptr<T>(handle);
  }

private:
  std::mutex mutex_;
  std::unordered_set<T *> live_;
};

/// Records `error` as this thread's last error and returns its status.
sieve_status fail(const Error &error);
sieve_status fail(sieve_status status, const std::string &message);
/// Clears this thread's last error.
sieve_status succeed();
/// Runs `body`, turning any C++ exception into SIEVE_ERROR_INTERNAL.
template <typename F> sieve_status guarded(F &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(SIEVE_ERROR_INTERNAL, "out of host memory");
  } catch (const std::exception &e) {
    return fail(SIEVE_ERROR_INTERNAL, std::string("unexpected C++ exception: ") + e.what());
  } catch (...) {
    return fail(SIEVE_ERROR_INTERNAL, "unexpected C++ exception");
  }
}

/// The runtime's dtype for a C enum value; `what` names the caller and the
/// tensor in the error for a value outside the enum.
Expected<runtime::DType> dtypeOf(sieve_dtype dtype, const std::string &what);

/// Copies `text` into a caller's buffer, NUL-terminated.
sieve_status copyOut(const std::string &text, char *buf, size_t size, const char *what);

} // namespace sieve::capi

#endif
