//===- TensorMapCache.cpp -------------------------------------------------===//
#include "sieve/runtime/TensorMapCache.h"

namespace sieve::runtime {

TensorMapCache::~TensorMapCache() {
  for (auto &[key, entry] : entries_)
    (void)driver_.free(entry.address); // nothing to report to at teardown
}

size_t TensorMapCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

Expected<CuDevicePtr> TensorMapCache::get(const TensorView &tensor, int64_t boxRows,
                                          int64_t boxCols) {
  Key key{tensor.data, tensor.dtype, tensor.sizes, tensor.strides, boxRows, boxCols};
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    ages_.splice(ages_.begin(), ages_, it->second.age);
    return it->second.address;
  }
  auto map = driver_.encodeTensorMap(tensor.dtype, tensor.data, tensor.sizes, tensor.strides,
                                     boxRows, boxCols);
  if (!map)
    return map.error();
  if (entries_.size() >= capacity_) {
    // A launch still in flight may read the oldest descriptor: let all
    // work finish before its buffer goes (rare: `capacity_` distinct tensors).
    auto oldest = entries_.find(ages_.back());
    if (Error e = driver_.synchronizeDevice())
      return e;
    if (Error e = driver_.free(oldest->second.address))
      return e;
    entries_.erase(oldest);
    ages_.pop_back();
  }
  // cuMemAlloc returns 256-byte aligned memory; TMA needs 64.
  auto address = driver_.alloc(sizeof(*map));
  if (!address)
    return address.error();
  if (Error e = driver_.copyToDevice(*address, map->data(), sizeof(*map))) {
    (void)driver_.free(*address);
    return e;
  }
  ages_.push_front(key);
  entries_.emplace(key, Entry{*address, ages_.begin()});
  return *address;
}

} // namespace sieve::runtime
