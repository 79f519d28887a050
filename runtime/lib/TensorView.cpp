//===- TensorView.cpp -----------------------------------------------------===//
#include "sieve/runtime/TensorView.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>
#include <vector>

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

namespace {

/// One tensor against the shape, dtype and device it must have; a tensor
/// the kernel writes must not repeat elements (no zero stride).
Error checkTensor(const char *name, const TensorView &view, const std::array<int64_t, 4> &want,
                  DType dtype, DeviceKind device, bool written) {
  if (!view.data)
    return Error(ErrorCode::InvalidArgument, fmt::format("tensor '{}' has no data", name));
  if (view.dtype != dtype)
    return Error(ErrorCode::DTypeMismatch,
                 fmt::format("tensor '{}' is {}, the kernel was compiled for {}", name,
                             dtypeName(view.dtype), dtypeName(dtype)));
  bool fits = true;
  std::vector<std::string> wanted;
  for (int d = 0; d < 4; ++d) {
    fits = fits && (want[d] == kAnySize ? view.sizes[d] >= 0 : view.sizes[d] == want[d]);
    wanted.push_back(want[d] == kAnySize ? "any" : std::to_string(want[d]));
  }
  if (!fits)
    return Error(ErrorCode::ShapeMismatch,
                 fmt::format("tensor '{}' has shape [{}], expected [{}]", name,
                             fmt::join(view.sizes, ", "), fmt::join(wanted, ", ")));
  for (int d = 0; d < 4; ++d)
    if (view.strides[d] < 0 || (view.strides[d] == 0 && view.sizes[d] > 1 && written))
      return Error(ErrorCode::InvalidArgument,
                   fmt::format("tensor '{}' has stride {} in dimension {}; strides must be "
                               "non-negative (and positive for the tensors the kernel writes)",
                               name, view.strides[d], d));
  if (view.device != device)
    return Error(ErrorCode::WrongDevice,
                 fmt::format("tensor '{}' is in {} memory but the kernel runs on the {}", name,
                             view.device == DeviceKind::Host ? "host" : "GPU",
                             device == DeviceKind::Host ? "CPU" : "GPU"));
  return Error::success();
}

} // namespace

Error checkAttentionTensors(const ProblemShape &shape, const TensorView &q, const TensorView &k,
                            const TensorView &v, const TensorView &out, DeviceKind device) {
  return checkAttentionTensorShapes({shape.batch, shape.headsQ, shape.seqQ, shape.headDim},
                                    {shape.batch, shape.headsKv, shape.seqK, shape.headDim},
                                    shape.dtype, q, k, v, out, device);
}

Error checkAttentionTensorShapes(const std::array<int64_t, 4> &qShape,
                                 const std::array<int64_t, 4> &kvShape, DType dtype,
                                 const TensorView &q, const TensorView &k, const TensorView &v,
                                 const TensorView &out, DeviceKind device) {
  struct Named {
    const char *name;
    const TensorView &view;
    std::array<int64_t, 4> want;
  };
  for (const Named &t : {Named{"query", q, qShape}, Named{"key", k, kvShape},
                         Named{"value", v, kvShape}, Named{"out", out, qShape}})
    if (Error e = checkTensor(t.name, t.view, t.want, dtype, device, &t.view == &out))
      return e;
  return Error::success();
}

Error checkBackwardTensors(const ProblemShape &shape, const BackwardTensors &t, DeviceKind device) {
  if (Error e = checkAttentionTensors(shape, t.q, t.k, t.v, t.out, device))
    return e;
  std::array<int64_t, 4> qShape{shape.batch, shape.headsQ, shape.seqQ, shape.headDim};
  std::array<int64_t, 4> kvShape{shape.batch, shape.headsKv, shape.seqK, shape.headDim};
  if (Error e = checkTensor("dout", t.dout, qShape, shape.dtype, device, false))
    return e;
  if (Error e = checkTensor("dq", t.dq, qShape, shape.dtype, device, true))
    return e;
  if (Error e = checkTensor("dk", t.dk, kvShape, shape.dtype, device, true))
    return e;
  if (Error e = checkTensor("dv", t.dv, kvShape, shape.dtype, device, true))
    return e;
  if (!t.lse)
    return Error(ErrorCode::InvalidArgument,
                 "the backward needs the forward's log-sum-exp (f32 [B, Hq, Sq], from a kernel "
                 "compiled with saveLse)");
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
