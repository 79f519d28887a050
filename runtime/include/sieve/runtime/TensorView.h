//===- TensorView.h - a borrowed rank-4 tensor ------------------*- C++ -*-===//
#ifndef SIEVE_RUNTIME_TENSORVIEW_H
#define SIEVE_RUNTIME_TENSORVIEW_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/DType.h"

#include <array>
#include <cstdint>

namespace sieve::runtime {

enum class DeviceKind { Host, Cuda };

/// A view of memory sieve reads or writes but does not own. Sizes are
/// [B, H, S, D]; strides are in elements, so BSHD and BHSD layouts are both
/// views of the same logical tensor.
struct TensorView {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::array<int64_t, 4> sizes{};
  std::array<int64_t, 4> strides{};
  DeviceKind device = DeviceKind::Host;

  /// Row-major (BHSD) strides for `sizes`.
  static TensorView contiguous(void *data, DType dtype, std::array<int64_t, 4> sizes,
                               DeviceKind device);
  /// One past the largest element offset the view can touch.
  int64_t spanElements() const;
};

/// Checks query, key, value and out against the problem an artifact was
/// compiled for: dtype, sizes, device, non-null data, strides usable.
/// Errors name the tensor and the expected value.
Error checkAttentionTensors(const ProblemShape &shape, const TensorView &q, const TensorView &k,
                            const TensorView &v, const TensorView &out, DeviceKind device);

/// A size in checkAttentionTensorShapes' shapes that accepts any size.
constexpr int64_t kAnySize = -1;

/// As checkAttentionTensors, against explicit [B, H, S, D] shapes for q and
/// out (`qShape`) and k and v (`kvShape`), where kAnySize accepts any size
/// (a ragged batch's packed tokens, a page pool's pages).
Error checkAttentionTensorShapes(const std::array<int64_t, 4> &qShape,
                                 const std::array<int64_t, 4> &kvShape, DType dtype,
                                 const TensorView &q, const TensorView &k, const TensorView &v,
                                 const TensorView &out, DeviceKind device);

/// The backward pass's tensors: the forward's inputs and output, the
/// upstream gradient `dout` (like out), the gradients it writes (dq like q,
/// dk and dv like k), and the forward's log-sum-exp, f32 [B, Hq, Sq]
/// contiguous, in the same memory as the tensors. A threshold-mode
/// backward (Artifact::thresholds) also needs the forward's thresholds,
/// f32 [Hq], in that memory; any other backward none.
struct BackwardTensors {
  TensorView q, k, v, out, dout, dq, dk, dv;
  const float *lse = nullptr;
  const float *thresholds = nullptr;
};

/// As checkAttentionTensors, for every tensor of a backward launch.
Error checkBackwardTensors(const ProblemShape &shape, const BackwardTensors &tensors,
                           DeviceKind device);

/// Checks the layout a kernel was compiled to assume: a unit stride on the
/// head dimension, and base and strides multiples of `alignBytes`. Errors
/// name the tensor and what to do (e.g. make the head dimension contiguous).
Error checkTensorLayout(const TensorView &view, const char *name, bool unitInnerStride,
                        uint32_t alignBytes);

} // namespace sieve::runtime

#endif
