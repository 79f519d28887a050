//===- GpuCalibration.cpp - one calibration call on the GPU ---------------===//
#include "GpuCalibration.h"

#include "sieve/compiler/Session.h"

#include <fmt/format.h>

#include <tuple>
#include <utility>

namespace sieve::calibration {

Expected<DeviceBuffer> DeviceBuffer::allocate(const runtime::CudaDriver &driver, size_t bytes,
                                              const char *what) {
  auto ptr = driver.alloc(bytes);
  if (!ptr)
    return ptr.error().withContext(fmt::format(
        "GPU calibration: {} needs {:.1f} MiB of device memory", what, bytes / 1048576.0));
  DeviceBuffer buffer;
  buffer.driver_ = &driver;
  buffer.ptr_ = *ptr;
  return buffer;
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    release();
    driver_ = other.driver_;
    ptr_ = other.ptr_;
    other.driver_ = nullptr;
    other.ptr_ = 0;
  }
  return *this;
}

void DeviceBuffer::release() {
  // A failed free (a context already torn down) leaves nothing to do.
  if (ptr_)
    (void)driver_->free(ptr_);
  driver_ = nullptr;
  ptr_ = 0;
}

Error GpuCalibrationRun::reserve(const runtime::CudaDriver &driver,
                                 const runtime::ProblemShape &shape, size_t statsCount) {
  if (driver_ == &driver && shape_ == shape && statsCount_ == statsCount)
    return Error::success();
  // The old shape's memory goes first, so the new one can use it.
  for (DeviceBuffer *buffer : {&q_, &k_, &v_, &out_, &stats_})
    *buffer = DeviceBuffer();
  driver_ = nullptr;
  const size_t element = runtime::dtypeSize(shape.dtype);
  const size_t qBytes = shape.batch * shape.headsQ * shape.seqQ * shape.headDim * element;
  const size_t kvBytes = shape.batch * shape.headsKv * shape.seqK * shape.headDim * element;
  for (auto [buffer, bytes, what] : {std::tuple{&q_, qBytes, "q"},
                                     {&k_, kvBytes, "k"},
                                     {&v_, kvBytes, "v"},
                                     {&out_, qBytes, "the output"},
                                     {&stats_, statsCount * sizeof(float), "the stats table"}}) {
    auto allocated = DeviceBuffer::allocate(driver, bytes, what);
    if (!allocated)
      return allocated.error(); // the buffers already made free themselves later
    *buffer = std::move(*allocated);
  }
  driver_ = &driver;
  shape_ = shape;
  statsCount_ = statsCount;
  return Error::success();
}

Error GpuCalibrationRun::upload(const runtime::TensorView &view, const DeviceBuffer &dst) {
  const auto [batch, heads, seq, dim] = view.sizes;
  floats_.resize(static_cast<size_t>(batch * heads * seq * dim));
  const float *src = static_cast<const float *>(view.data);
  float *out = floats_.data();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < seq; ++i) {
        const float *row = src + b * view.strides[0] + h * view.strides[1] + i * view.strides[2];
        for (int64_t d = 0; d < dim; ++d)
          *out++ = row[d * view.strides[3]];
      }
  encoded_.resize(floats_.size() * runtime::dtypeSize(shape_.dtype));
  runtime::encodeFloats(shape_.dtype, floats_.data(), encoded_.data(), floats_.size());
  return driver_->copyToDevice(dst.get(), encoded_.data(), encoded_.size());
}

Expected<std::vector<float>>
GpuCalibrationRun::run(compiler::Session &session, const runtime::Artifact &artifact,
                       const runtime::ProblemShape &shape, const runtime::TensorView &q,
                       const runtime::TensorView &k, const runtime::TensorView &v, int64_t qBlocks,
                       int64_t kBlocks) {
  runtime::GpuExecutor *gpu = session.gpu();
  if (!gpu)
    return Error(ErrorCode::NoGpu, "GPU calibration: the session runs on the CPU backend");
  const runtime::CudaDriver &driver = gpu->driver();
  const size_t statsCount = static_cast<size_t>(shape.headsQ * qBlocks * kBlocks);
  if (Error e = reserve(driver, shape, statsCount))
    return e;
  for (auto [view, buffer] : {std::pair{&q, &q_}, {&k, &k_}, {&v, &v_}})
    if (Error e = upload(*view, *buffer))
      return e.withContext("GPU calibration: uploading the call's tensors");
  if (Error e = driver.memset8(stats_.get(), 0, statsCount * sizeof(float)))
    return e.withContext("GPU calibration: zeroing the stats table");
  auto deviceView = [&](const DeviceBuffer &buffer, int64_t heads, int64_t seq) {
    return runtime::TensorView::contiguous(buffer.data(), shape.dtype,
                                           {shape.batch, heads, seq, shape.headDim},
                                           runtime::DeviceKind::Cuda);
  };
  if (Error e = session.calibrate(artifact, deviceView(q_, shape.headsQ, shape.seqQ),
                                  deviceView(k_, shape.headsKv, shape.seqK),
                                  deviceView(v_, shape.headsKv, shape.seqK),
                                  deviceView(out_, shape.headsQ, shape.seqQ),
                                  static_cast<float *>(stats_.data()), /*stream=*/nullptr))
    return e.withContext("GPU calibration kernel");
  if (Error e = driver.synchronize(nullptr))
    return e.withContext("GPU calibration kernel");
  std::vector<float> mass(statsCount);
  if (Error e = driver.copyToHost(mass.data(), stats_.get(), statsCount * sizeof(float)))
    return e.withContext("GPU calibration: reading the stats table back");
  return mass;
}

} // namespace sieve::calibration
