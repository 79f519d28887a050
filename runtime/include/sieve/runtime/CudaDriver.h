//===- CudaDriver.h - the CUDA Driver API, opened at run time ---*- C++ -*-===//
//
// libcuda is opened with dlopen rather than linked, so that every sieve
// binary starts on machines without a driver (CI, laptops) and can fall back
// to the CPU backend, or say clearly that no GPU is there.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_CUDADRIVER_H
#define SIEVE_RUNTIME_CUDADRIVER_H

#include "sieve/Error.h"
#include "sieve/runtime/DType.h"
#include "sieve/runtime/TargetInfo.h"

#include <array>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace sieve::runtime {

/// Opaque driver handles (CUmodule, CUfunction, CUstream, CUdeviceptr...),
/// kept as plain types so this header needs no cuda.h.
using CuModule = void *;
using CuFunction = void *;
using CuStream = void *;
using CuEvent = void *;
using CuGraphExec = void *;
using CuDevicePtr = uint64_t;

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0; // compute capability
  int multiprocessors = 0;
  int sharedBytesPerBlock = 0; // the opt-in maximum of dynamic shared memory
  int registersPerBlock = 0;
  int maxThreadsPerBlock = 0;
  std::array<int, 3> maxGrid{0, 0, 0};
  /// "sm_90a" for Hopper (its arch-specific features), "sm_XY" otherwise.
  std::string chip() const;
  /// The chip's description with this device's own SM count, shared
  /// memory, registers and limits; Unsupported for a chip sieve does not
  /// generate code for (older than sm_80).
  Expected<TargetInfo> target() const;
};

struct DeviceMemoryInfo {
  size_t freeBytes = 0, totalBytes = 0;
};

/// The process-wide driver. All methods are thread-safe; each CUDA failure
/// becomes an Error naming the call, the CUDA error name and its text.
class CudaDriver {
public:
  /// Opens libcuda and initializes device `ordinal`'s primary context; fails
  /// with ErrorCode::NoGpu when there is no driver or no such device.
  static Expected<CudaDriver *> get(int ordinal = 0);
  /// True when a driver and at least one device are present (never fails).
  static bool available();

  const DeviceInfo &device() const { return info_; }
  /// Makes this driver's context current on the calling thread.
  Error makeCurrent() const;

  Expected<CuModule> loadModule(const std::string &ptx, std::string *log = nullptr) const;
  Error unloadModule(CuModule module) const;
  Expected<CuFunction> getFunction(CuModule module, const std::string &name) const;
  /// Opts `fn` in to `bytes` of dynamic shared memory (needed above 48 KiB).
  Error setDynamicSharedBytes(CuFunction fn, uint32_t bytes) const;
  /// With `afterPrevious` (sm_90+), a programmatic dependent launch: the
  /// kernel may start before the stream's previous kernel ends, once every
  /// block of that one has run griddepcontrol.launch_dependents or exited,
  /// and must itself wait (griddepcontrol.wait) before it reads what that
  /// kernel wrote. It saves the gap between two dependent launches.
  Error launch(CuFunction fn, const uint32_t grid[3], const uint32_t block[3], uint32_t sharedBytes,
               CuStream stream, void **params, bool afterPrevious = false) const;

  /// The 128-byte TMA descriptor (CUtensorMap) of a rank-4 [B, H, S, D]
  /// tensor of 16-bit `dtype` at `base` with element strides `strides`
  /// (strides[3] == 1): a box of `boxCols` x `boxRows` x 1 x 1 elements
  /// swizzled at the width of a box row (32, 64 or 128 bytes: the kernel's
  /// slab layout), zero fill past the edges.
  Expected<std::array<uint64_t, 16>> encodeTensorMap(DType dtype, const void *base,
                                                     const std::array<int64_t, 4> &sizes,
                                                     const std::array<int64_t, 4> &strides,
                                                     int64_t boxRows, int64_t boxCols) const;

  Expected<CuDevicePtr> alloc(size_t bytes) const;
  Error free(CuDevicePtr ptr) const;
  /// Free and total memory of the device (cuMemGetInfo).
  Expected<DeviceMemoryInfo> memoryInfo() const;
  /// Stream-ordered allocation (the device's default memory pool): the
  /// memory is usable by work queued on `stream` after this call, and
  /// freeAsync returns it once the work queued before the free is done.
  Expected<CuDevicePtr> allocAsync(size_t bytes, CuStream stream) const;
  Error freeAsync(CuDevicePtr ptr, CuStream stream) const;
  /// `stream`'s identity for the life of the process (cuStreamGetId):
  /// unlike its handle, which a later stream may get once it is destroyed,
  /// never reused.
  Expected<uint64_t> streamId(CuStream stream) const;
  /// Whether `stream` is capturing a CUDA graph (cuStreamIsCapturing).
  Expected<bool> isCapturing(CuStream stream) const;
  /// A stream that does not synchronize with the legacy default stream.
  Expected<CuStream> createStream() const;
  Error destroyStream(CuStream stream) const;
  /// What `work` queues on `stream` (not the legacy default stream),
  /// captured as a CUDA graph in relaxed mode and instantiated.
  Expected<CuGraphExec> captureGraph(CuStream stream, const std::function<Error()> &work) const;
  Error launchGraph(CuGraphExec graph, CuStream stream) const;
  Error destroyGraph(CuGraphExec graph) const;
  Error copyToDevice(CuDevicePtr dst, const void *src, size_t bytes) const;
  /// Host-to-device copy queued on `stream` (cuMemcpyHtoDAsync). From
  /// pageable memory it returns once `src` is staged, so the caller may
  /// reuse it at once; the device sees the data in stream order.
  Error copyToDeviceAsync(CuDevicePtr dst, const void *src, size_t bytes, CuStream stream) const;
  Error copyToHost(void *dst, CuDevicePtr src, size_t bytes) const;
  /// Device-to-device copy queued on `stream` (cuMemcpyDtoDAsync): what the
  /// benchmarks measure the device's copy bandwidth with.
  Error copyOnDevice(CuDevicePtr dst, CuDevicePtr src, size_t bytes, CuStream stream) const;
  Error memset8(CuDevicePtr dst, uint8_t value, size_t bytes) const;
  /// memset8 queued on `stream` (cuMemsetD8Async): ordered before the
  /// stream's later work, whatever stream flags it was created with.
  Error memset8Async(CuDevicePtr dst, uint8_t value, size_t bytes, CuStream stream) const;
  Error synchronize(CuStream stream) const;
  /// Waits for all work on the device (every stream of the context).
  Error synchronizeDevice() const;
  /// Whether `ptr` is device (or managed) memory of the driver.
  bool isDevicePointer(const void *ptr) const;

  Expected<CuEvent> createEvent() const;
  Error recordEvent(CuEvent event, CuStream stream) const;
  Expected<float> elapsedMs(CuEvent start, CuEvent end) const;
  Error destroyEvent(CuEvent event) const;

  struct Api; // the resolved entry points (CudaDriver.cpp)

private:
  CudaDriver() = default;
  const Api *api_ = nullptr;
  void *context_ = nullptr;
  DeviceInfo info_;
  // The memory pool behind allocAsync, made on first use.
  mutable std::once_flag poolOnce_;
  mutable void *pool_ = nullptr;
  mutable Error poolError_;
};

} // namespace sieve::runtime

#endif
