//===- Tensors.cpp --------------------------------------------------------===//
#include "Tensors.h"

#include "Errors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>

namespace nb = nanobind;

namespace sieve::python {

namespace {

// DLPack device types (dlpack.h's DLDeviceType).
constexpr int kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLCUDAManaged = 13;

} // namespace

std::string dtypeName(nb::dlpack::dtype dtype) {
  using Code = nb::dlpack::dtype_code;
  const char *kind = "dtype";
  switch (static_cast<Code>(dtype.code)) {
  case Code::Int:
    kind = "int";
    break;
  case Code::UInt:
    kind = "uint";
    break;
  case Code::Float:
    kind = "float";
    break;
  case Code::Bfloat:
    kind = "bfloat";
    break;
  case Code::Complex:
    kind = "complex";
    break;
  case Code::Bool:
    return "bool";
  default:
    return fmt::format("dlpack dtype code {} ({} bits)", dtype.code, dtype.bits);
  }
  std::string name = fmt::format("{}{}", kind, dtype.bits);
  return dtype.lanes == 1 ? name : fmt::format("{}x{}", name, dtype.lanes);
}

std::string deviceTypeName(int deviceType) {
  switch (deviceType) {
  case kDLCPU:
    return "cpu";
  case kDLCUDA:
    return "cuda";
  case kDLCUDAHost:
    return "cuda_host";
  case kDLCUDAManaged:
    return "cuda_managed";
  }
  return fmt::format("dlpack device {}", deviceType);
}

runtime::TensorView viewOf(const ArrayFacts &a, const char *name, int cudaOrdinal) {
  runtime::TensorView view;
  if (a.ndim != 4)
    raise(Error(ErrorCode::ShapeMismatch,
                fmt::format("{} has {} dimensions; expected 4 ([batch, heads, seq, head_dim], "
                            "any non-negative strides)",
                            name, a.ndim)));
  std::string dtype = dtypeName(a.dtype);
  if (dtype == "float32")
    view.dtype = runtime::DType::F32;
  else if (dtype == "float16")
    view.dtype = runtime::DType::F16;
  else if (dtype == "bfloat16")
    view.dtype = runtime::DType::BF16;
  else
    raise(Error(ErrorCode::DTypeMismatch,
                fmt::format("{} is {}; sieve takes float32, float16 or bfloat16", name, dtype)));
  // Pinned host memory is host memory to the kernels; managed memory is
  // addressable from the GPU like device memory.
  if (a.deviceType == kDLCPU || a.deviceType == kDLCUDAHost) {
    view.device = runtime::DeviceKind::Host;
  } else if (a.deviceType == kDLCUDA || a.deviceType == kDLCUDAManaged) {
    view.device = runtime::DeviceKind::Cuda;
    if (cudaOrdinal >= 0 && a.deviceId != cudaOrdinal)
      raise(Error(ErrorCode::WrongDevice,
                  fmt::format("{} is on cuda:{} but the kernel runs on cuda:{}", name, a.deviceId,
                              cudaOrdinal)));
  } else {
    raise(Error(ErrorCode::WrongDevice,
                fmt::format("{} is in {} memory; sieve runs on the CPU or on CUDA GPUs", name,
                            deviceTypeName(a.deviceType))));
  }
  view.data = a.data;
  for (int d = 0; d < 4; ++d) {
    view.sizes[d] = a.shape[d];
    view.strides[d] = a.strides[d];
    // Kernels address from the first element upward (and the GPU's tensor
    // maps take unsigned strides): a reversed view is refused by name here.
    if (a.strides[d] < 0 && a.shape[d] > 1)
      raise(Error(ErrorCode::InvalidArgument,
                  fmt::format("{} has stride {} in dimension {} (a reversed view); sieve takes "
                              "non-negative strides: pass a copy (numpy.ascontiguousarray({}), "
                              "x.copy())",
                              name, a.strides[d], d, name)));
  }
  return view;
}

namespace {

/// `a` with its dimensions reordered: dimension d of the result is
/// dimension order[d] of `a` (a size-1 leading one where order[d] < 0).
runtime::TensorView permutedView(const ArrayFacts &a, const char *name, int cudaOrdinal,
                                 std::array<int, 4> order, size_t ndim, const char *layout) {
  if (a.ndim != ndim)
    raise(Error(ErrorCode::ShapeMismatch,
                fmt::format("{} has {} dimensions; expected {} ({})", name, a.ndim, ndim, layout)));
  std::array<int64_t, 4> shape{}, strides{};
  for (int d = 0; d < 4; ++d) {
    shape[d] = order[d] < 0 ? 1 : a.shape[order[d]];
    strides[d] = order[d] < 0 ? 0 : a.strides[order[d]];
  }
  ArrayFacts four = a;
  four.ndim = 4;
  four.shape = shape.data();
  four.strides = strides.data();
  return viewOf(four, name, cudaOrdinal);
}

} // namespace

runtime::TensorView packedViewOf(const ArrayFacts &a, const char *name, int cudaOrdinal) {
  return permutedView(a, name, cudaOrdinal, {-1, 1, 0, 2}, 3,
                      "[total_tokens, heads, head_dim]: a ragged batch's sequences packed");
}

runtime::TensorView pagedViewOf(const ArrayFacts &a, const char *name, int cudaOrdinal) {
  return permutedView(a, name, cudaOrdinal, {0, 2, 1, 3}, 4,
                      "[pages, page_size, heads_kv, head_dim]: a paged KV cache's pool");
}

namespace {

/// f32BufferOf and hostI32BufferOf: a contiguous array of `shape` and
/// dtype `dtype` in the kernel's memory, or with `hostMemory` in the host's
/// (pinned host memory counts) whichever device the kernel runs on.
void *bufferOf(const ArrayFacts &a, const char *name, std::vector<int64_t> shape, const char *dtype,
               int cudaOrdinal, bool hostMemory = false) {
  std::vector<int64_t> got(a.shape, a.shape + a.ndim);
  if (got != shape)
    raise(
        Error(ErrorCode::ShapeMismatch, fmt::format("{} has shape [{}], expected [{}]", name,
                                                    fmt::join(got, ", "), fmt::join(shape, ", "))));
  if (dtypeName(a.dtype) != dtype)
    raise(Error(ErrorCode::DTypeMismatch,
                fmt::format("{} is {}, expected {}", name, dtypeName(a.dtype), dtype)));
  // Contiguous, row-major: the kernels index it as a dense table.
  int64_t expected = 1;
  for (size_t d = a.ndim; d-- > 0;) {
    if (a.strides && shape[d] > 1 && a.strides[d] != expected)
      raise(Error(ErrorCode::InvalidArgument,
                  fmt::format("{} must be contiguous (row-major), its strides are not", name)));
    expected *= shape[d];
  }
  const bool onGpu = a.deviceType == kDLCUDA || a.deviceType == kDLCUDAManaged;
  if (hostMemory) {
    if (onGpu)
      raise(Error(ErrorCode::WrongDevice,
                  fmt::format("{} is in {} memory, expected host memory (a CPU array): the "
                              "launch checks it on the host and copies it to the GPU itself",
                              name, deviceTypeName(a.deviceType))));
    return a.data;
  }
  if (onGpu != (cudaOrdinal >= 0))
    raise(Error(ErrorCode::WrongDevice,
                fmt::format("{} is in {} memory but the kernel runs on the {}", name,
                            deviceTypeName(a.deviceType), cudaOrdinal >= 0 ? "GPU" : "CPU")));
  if (onGpu && a.deviceId != cudaOrdinal)
    raise(Error(ErrorCode::WrongDevice, fmt::format("{} is on cuda:{} but the kernel runs on "
                                                    "cuda:{}",
                                                    name, a.deviceId, cudaOrdinal)));
  return a.data;
}

} // namespace

float *f32BufferOf(const ArrayFacts &a, const char *name, std::vector<int64_t> shape,
                   int cudaOrdinal) {
  return static_cast<float *>(bufferOf(a, name, std::move(shape), "float32", cudaOrdinal));
}

const int32_t *hostI32BufferOf(const ArrayFacts &a, const char *name, std::vector<int64_t> shape) {
  return static_cast<const int32_t *>(
      bufferOf(a, name, std::move(shape), "int32", -1, /*hostMemory=*/true));
}

} // namespace sieve::python
