//===- Tensors.h - DLPack arrays as runtime tensor views --------*- C++ -*-===//
//
// Any array that speaks DLPack (numpy, PyTorch, CuPy, JAX) arrives as an
// nb::ndarray and becomes a runtime::TensorView over the same memory with the
// same strides: nothing is copied, so BSHD and BHSD views both work.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PYTHON_TENSORS_H
#define SIEVE_PYTHON_TENSORS_H

#include "sieve/runtime/TensorView.h"

#include <nanobind/ndarray.h>

#include <string>
#include <vector>

namespace sieve::python {

/// Read-only arrays are accepted for inputs (numpy broadcasts, say); the
/// DLPack exchange itself is the same for both.
using InputArray = nanobind::ndarray<nanobind::ro>;
using OutputArray = nanobind::ndarray<>;

/// "float32", "bfloat16", "int64", ... for messages and tensor_info.
std::string dtypeName(nanobind::dlpack::dtype dtype);
/// "cpu", "cuda", "cuda_host", "cuda_managed", or "dlpack device N".
std::string deviceTypeName(int deviceType);

/// What an array says about itself through DLPack.
struct ArrayFacts {
  void *data;
  nanobind::dlpack::dtype dtype;
  size_t ndim;
  const int64_t *shape, *strides;
  int deviceType, deviceId;
};
template <typename... Args> ArrayFacts factsOf(const nanobind::ndarray<Args...> &a) {
  return {const_cast<void *>(static_cast<const void *>(a.data())),
          a.dtype(),
          a.ndim(),
          a.shape_ptr(),
          a.stride_ptr(),
          a.device_type(),
          a.device_id()};
}

/// The view of an array (named `name` in errors: "q", "out"), which must be
/// 4-d f32/f16/bf16 in host or CUDA memory. `cudaOrdinal` is the GPU the
/// kernel runs on (-1 for the CPU backend): CUDA memory of another GPU is
/// rejected here, since the runtime cannot tell devices apart.
runtime::TensorView viewOf(const ArrayFacts &array, const char *name, int cudaOrdinal);

/// The data of a contiguous f32 array of exactly `shape` (the lse
/// [B, Hq, Sq], the stats [Hq, QB, KB]) in the memory the kernel runs on
/// (`cudaOrdinal` as for viewOf): errors name the array and what it should be.
float *f32BufferOf(const ArrayFacts &array, const char *name, std::vector<int64_t> shape,
                   int cudaOrdinal);
/// The same for an int32 array in host memory, whichever device the kernel
/// runs on (a ragged batch's cu_seqlens [B + 1], a page table [B, pages per
/// sequence]: the launch checks them on the host, runtime::checkBatchLayout,
/// and a GPU launch copies them to the device on its stream).
const int32_t *hostI32BufferOf(const ArrayFacts &array, const char *name,
                               std::vector<int64_t> shape);

/// A ragged batch's packed tokens, [total, heads, head_dim] as varlen
/// kernels take them, viewed as the runtime's [1, heads, total, head_dim].
runtime::TensorView packedViewOf(const ArrayFacts &array, const char *name, int cudaOrdinal);
/// A page pool, [pages, page_size, heads, head_dim] as paged KV caches hold
/// it, viewed as the runtime's [pages, heads, page_size, head_dim].
runtime::TensorView pagedViewOf(const ArrayFacts &array, const char *name, int cudaOrdinal);

} // namespace sieve::python

#endif
