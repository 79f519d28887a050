//===- TensorView.cpp -----------------------------------------------------===//
#include "sieve/runtime/TensorView.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace sieve::runtime {

TensorView TensorView::contiguous(void *data, DType dtype, std::array<int64_t, 4> sizes,
                                  DeviceKind device) {
  TensorView t;
  t.data = data;
  t.dtype = dtype;
  t.sizes = sizes;
  t.device = device;
  int64_t stride = 1;
  for (int d = 3; d >= 0; --d) {
    t.strides[d] = stride;
    stride *= sizes[d];
  }
  return t;
}

int64_t TensorView::spanElements() const {
  int64_t last = 0;
  for (int d = 0; d < 4; ++d)
    last += (sizes[d] - 1) * strides[d];
  return last + 1;
}

Error checkAttentionTensors(const ProblemShape &shape, const TensorView &q, const TensorView &k,
                            const TensorView &v, const TensorView &out, DeviceKind device) {
  std::array<int64_t, 4> qShape{shape.batch, shape.headsQ, shape.seqQ, shape.headDim};
  std::array<int64_t, 4> kvShape{shape.batch, shape.headsKv, shape.seqK, shape.headDim};
  struct Named {
    const char *name;
    const TensorView &view;
    std::array<int64_t, 4> want;
  };
  for (const Named &t : {Named{"query", q, qShape}, Named{"key", k, kvShape},
                         Named{"value", v, kvShape}, Named{"out", out, qShape}}) {
    if (!t.view.data)
      return Error(ErrorCode::InvalidArgument, fmt::format("tensor '{}' has no data", t.name));
    if (t.view.dtype != shape.dtype)
      return Error(ErrorCode::DTypeMismatch,
                   fmt::format("tensor '{}' is {}, the kernel was compiled for {}", t.name,
                               dtypeName(t.view.dtype), dtypeName(shape.dtype)));
    if (t.view.sizes != t.want)
      return Error(ErrorCode::ShapeMismatch,
                   fmt::format("tensor '{}' has shape [{}], expected [{}]", t.name,
                               fmt::join(t.view.sizes, ", "), fmt::join(t.want, ", ")));
    for (int d = 0; d < 4; ++d)
      if (t.view.strides[d] < 0 ||
          (t.view.strides[d] == 0 && t.view.sizes[d] > 1 && &t.view == &out))
        return Error(ErrorCode::InvalidArgument,
                     fmt::format("tensor '{}' has stride {} in dimension {}; strides must be "
                                 "non-negative (and positive for 'out')",
                                 t.name, t.view.strides[d], d));
    if (t.view.device != device)
      return Error(ErrorCode::WrongDevice,
                   fmt::format("tensor '{}' is in {} memory but the kernel runs on the {}", t.name,
                               t.view.device == DeviceKind::Host ? "host" : "GPU",
                               device == DeviceKind::Host ? "CPU" : "GPU"));
  }
  return Error::success();
}

Error checkTensorLayout(const TensorView &t, const char *name, bool unitInnerStride,
                        uint32_t alignBytes) {
  if (unitInnerStride && t.strides[3] != 1 && t.sizes[3] > 1)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("tensor '{}' has stride {} on the head dimension; the GPU kernel "
                             "needs it contiguous (stride 1)",
                             name, t.strides[3]));
  if (alignBytes == 0)
    return Error::success();
  const int64_t elementBytes = dtypeSize(t.dtype);
  if (reinterpret_cast<uintptr_t>(t.data) % alignBytes != 0)
    return Error(ErrorCode::InvalidArgument,
                 fmt::format("tensor '{}' starts at {}, which is not {}-byte aligned as the "
                             "tensor-core kernel's 16-byte loads need",
                             name, t.data, alignBytes));
  for (int d = 0; d < 3; ++d)
    if (t.sizes[d] > 1 && (t.strides[d] * elementBytes) % alignBytes != 0)
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("tensor '{}' has stride {} in dimension {} ({} bytes), not a "
                               "multiple of the {} bytes the tensor-core kernel loads at once",
                               name, t.strides[d], d, t.strides[d] * elementBytes, alignBytes));
  return Error::success();
}

} // namespace sieve::runtime
