//===- TensorMapCache.h - TMA descriptors for kernel launches ---*- C++ -*-===//
//
// Hopper kernels read q, k and v through TMA descriptors, which encode the
// tensor's address, sizes and strides. The kernel takes each descriptor's
// device address; this cache encodes a descriptor the first time a tensor
// is seen, uploads it to a buffer that never changes afterwards (so
// launches in flight on any stream keep reading what they were given),
// and hands the same address to later launches with the same tensor.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_TENSORMAPCACHE_H
#define SIEVE_RUNTIME_TENSORMAPCACHE_H

#include "sieve/Error.h"
#include "sieve/runtime/CudaDriver.h"
#include "sieve/runtime/TensorView.h"

#include <list>
#include <map>
#include <mutex>
#include <tuple>

namespace sieve::runtime {

class TensorMapCache {
public:
  explicit TensorMapCache(const CudaDriver &driver, size_t capacity = 1024)
      : driver_(driver), capacity_(capacity) {}
  ~TensorMapCache();
  TensorMapCache(const TensorMapCache &) = delete;
  TensorMapCache &operator=(const TensorMapCache &) = delete;

  /// The device address of `tensor`'s descriptor with a boxCols x boxRows
  /// box. Thread-safe.
  Expected<CuDevicePtr> get(const TensorView &tensor, int64_t boxRows, int64_t boxCols);

  size_t size() const;

private:
  using Key = std::tuple<const void *, DType, std::array<int64_t, 4>, std::array<int64_t, 4>,
                         int64_t, int64_t>;
  struct Entry {
    CuDevicePtr address;
    std::list<Key>::iterator age;
  };
  const CudaDriver &driver_;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::map<Key, Entry> entries_;
  std::list<Key> ages_; // most recently used first
};

} // namespace sieve::runtime

#endif
