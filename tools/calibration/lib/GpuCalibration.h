//===- GpuCalibration.h - one calibration call on the GPU -------*- C++ -*-===//
//
// The Calibrator's GPU engine: the model's host f32 q, k, v (any strides)
// go to the GPU as contiguous bf16 tensors, the GPU calibration kernel adds
// the call's mass into a zeroed device stats table, and the table comes
// back. Device memory is owned (freed on every path) and kept for the next
// call of the same shape: a model's layers all call with one shape per
// sentence, so each sentence allocates at most once.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_CALIBRATION_LIB_GPUCALIBRATION_H
#define SIEVE_CALIBRATION_LIB_GPUCALIBRATION_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/runtime/TensorView.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace sieve::compiler {
class Session;
}

namespace sieve::calibration {

/// Device memory that frees itself (move-only).
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  /// `bytes` of device memory; the error names `what` it was for and its size.
  static Expected<DeviceBuffer> allocate(const runtime::CudaDriver &driver, size_t bytes,
                                         const char *what);
  DeviceBuffer(DeviceBuffer &&other) noexcept { *this = std::move(other); }
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer() { release(); }

  runtime::CuDevicePtr get() const { return ptr_; }
  void *data() const { return reinterpret_cast<void *>(ptr_); }

private:
  void release();
  const runtime::CudaDriver *driver_ = nullptr;
  runtime::CuDevicePtr ptr_ = 0;
};

/// The device tensors of the last call's shape, reused while calls keep it.
class GpuCalibrationRun {
public:
  /// Runs `artifact`, a calibration kernel compiled on `session` (a GPU
  /// session) for `shape` (bf16), on the host f32 views q, k, v, and
  /// returns the call's f32 stats table [Hq, qBlocks, kBlocks]. Synchronizes.
  Expected<std::vector<float>> run(compiler::Session &session, const runtime::Artifact &artifact,
                                   const runtime::ProblemShape &shape, const runtime::TensorView &q,
                                   const runtime::TensorView &k, const runtime::TensorView &v,
                                   int64_t qBlocks, int64_t kBlocks);

private:
  /// Device buffers for `shape` and a stats table of `statsCount` floats
  /// on `driver`; those of the last call when it had the same.
  Error reserve(const runtime::CudaDriver &driver, const runtime::ProblemShape &shape,
                size_t statsCount);
  /// `view` (host f32, any strides) as contiguous bf16 in `dst`.
  Error upload(const runtime::TensorView &view, const DeviceBuffer &dst);

  const runtime::CudaDriver *driver_ = nullptr;
  runtime::ProblemShape shape_;
  size_t statsCount_ = 0;
  DeviceBuffer q_, k_, v_, out_, stats_;
  // Host staging, kept with the buffers: the gathered floats, then bf16.
  std::vector<float> floats_;
  std::vector<uint8_t> encoded_;
};

} // namespace sieve::calibration

#endif
