//===- DeviceProblem.h - one attention problem's tensors on the GPU -*- C++ -*-===//
//
// Fresh random inputs rounded to the problem's dtype (the encoded bytes for
// the device, the rounded floats for the float64 reference), uploaded to
// device buffers that the problem frees, and an output poisoned with 0xFF
// bytes (NaN) so that an unwritten element stays visible.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_TESTS_DEVICE_DEVICEPROBLEM_H
#define SIEVE_TESTS_DEVICE_DEVICEPROBLEM_H

#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/runtime/DType.h"
#include "sieve/runtime/TensorView.h"

#include <random>
#include <utility>
#include <vector>

namespace sieve::testing {

/// Random normal values rounded to `dtype`: the encoded bytes and the floats
/// the device sees.
inline void randomTensor(size_t count, runtime::DType dtype, std::mt19937_64 &rng,
                         std::vector<uint8_t> &bytes, std::vector<float> &rounded) {
  std::normal_distribution<float> normal;
  rounded.resize(count);
  for (float &x : rounded)
    x = normal(rng);
  bytes.resize(count * runtime::dtypeSize(dtype));
  runtime::encodeFloats(dtype, rounded.data(), bytes.data(), count);
  runtime::decodeFloats(dtype, bytes.data(), rounded.data(), count);
}

/// One problem's inputs on the host and the device, the output poisoned.
struct DeviceProblem {
  runtime::ProblemShape shape;
  const runtime::CudaDriver *drv;
  std::vector<uint8_t> qBytes, kBytes, vBytes;
  std::vector<float> q, k, v; // the rounded values, contiguous BHSD
  std::vector<runtime::CuDevicePtr> buffers;
  runtime::CuDevicePtr dq = 0, dk = 0, dv = 0, dout = 0;

  DeviceProblem(const runtime::ProblemShape &shape, const runtime::CudaDriver &drv,
                std::mt19937_64 &rng)
      : shape(shape), drv(&drv) {
    const auto &s = shape;
    randomTensor(s.batch * s.headsQ * s.seqQ * s.headDim, s.dtype, rng, qBytes, q);
    randomTensor(s.batch * s.headsKv * s.seqK * s.headDim, s.dtype, rng, kBytes, k);
    randomTensor(s.batch * s.headsKv * s.seqK * s.headDim, s.dtype, rng, vBytes, v);
  }
  DeviceProblem(const DeviceProblem &) = delete;
  DeviceProblem &operator=(const DeviceProblem &) = delete;
  ~DeviceProblem() {
    for (runtime::CuDevicePtr p : buffers)
      (void)drv->free(p);
  }
  /// Re-encodes the (edited) rounded inputs, for tests that plant values.
  void encodeInputs() {
    for (auto [floats, bytes] : {std::pair{&q, &qBytes}, {&k, &kBytes}, {&v, &vBytes}})
      runtime::encodeFloats(shape.dtype, floats->data(), bytes->data(), floats->size());
  }
  Expected<runtime::CuDevicePtr> upload(const void *bytes, size_t size) {
    auto p = drv->alloc(size);
    if (!p)
      return p;
    buffers.push_back(*p);
    if (Error e = bytes ? drv->copyToDevice(*p, bytes, size) : drv->memset8(*p, 0, size))
      return e;
    return p;
  }
  Error uploadAll() {
    for (auto [dst, src] : {std::pair{&dq, &qBytes}, {&dk, &kBytes}, {&dv, &vBytes}}) {
      auto p = upload(src->data(), src->size());
      if (!p)
        return p.error();
      *dst = *p;
    }
    auto out = upload(nullptr, qBytes.size());
    if (!out)
      return out.error();
    dout = *out;
    return drv->memset8(dout, 0xFF, qBytes.size()); // NaN: unwritten stays visible
  }
  runtime::TensorView view(runtime::CuDevicePtr p, int64_t heads, int64_t seq) const {
    return runtime::TensorView::contiguous(reinterpret_cast<void *>(p), shape.dtype,
                                           {shape.batch, heads, seq, shape.headDim},
                                           runtime::DeviceKind::Cuda);
  }
  runtime::TensorView qView() const { return view(dq, shape.headsQ, shape.seqQ); }
  runtime::TensorView kView() const { return view(dk, shape.headsKv, shape.seqK); }
  runtime::TensorView vView() const { return view(dv, shape.headsKv, shape.seqK); }
  runtime::TensorView outView() const { return view(dout, shape.headsQ, shape.seqQ); }
  /// The output as floats (BHSD), after synchronizing.
  Expected<std::vector<float>> output() const {
    if (Error e = drv->synchronize(nullptr))
      return e;
    std::vector<uint8_t> bytes(qBytes.size());
    if (Error e = drv->copyToHost(bytes.data(), dout, bytes.size()))
      return e;
    std::vector<float> out(q.size());
    runtime::decodeFloats(shape.dtype, bytes.data(), out.data(), out.size());
    return out;
  }
};

} // namespace sieve::testing

#endif
