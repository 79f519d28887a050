//===- DeviceRowTables.h - a mask's row tables in GPU memory ----*- C++ -*-===//
//
// The generic kernel reads the mask at launch: upload a mask's row tables
// once, then pass them to every launch with that mask. Nothing is compiled
// per mask.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_DEVICEROWTABLES_H
#define SIEVE_RUNTIME_DEVICEROWTABLES_H

#include "sieve/Error.h"
#include "sieve/runtime/BlockMask.h"
#include "sieve/runtime/CausalMask.h"
#include "sieve/runtime/CudaDriver.h"

#include <array>
#include <memory>

namespace sieve::runtime {

class DeviceRowTables {
public:
  /// Builds the row tables of `mask` for queries of length `seqQ` (and the
  /// `causal` rule, CausalRule::of the kernel's) and copies them to the
  /// device.
  static Expected<std::unique_ptr<DeviceRowTables>>
  upload(const CudaDriver &driver, const BlockMask &mask, int64_t seqQ, CausalRule causal);
  ~DeviceRowTables();
  DeviceRowTables(const DeviceRowTables &) = delete;
  DeviceRowTables &operator=(const DeviceRowTables &) = delete;

  /// Table i (0 heads, 1 query blocks, 2 row spans, 3 key blocks): device
  /// address and length in int32 entries.
  CuDevicePtr address(int i) const { return address_[i]; }
  int64_t length(int i) const { return length_[i]; }

  int64_t heads() const { return heads_; }
  int64_t queryBlocks() const { return queryBlocks_; }
  int64_t keyBlocks() const { return keyBlocks_; }
  int64_t blockQ() const { return blockQ_; }
  int64_t blockK() const { return blockK_; }
  int64_t seqQ() const { return seqQ_; }
  CausalRule causal() const { return causal_; }

private:
  explicit DeviceRowTables(const CudaDriver &driver) : driver_(driver) {}
  const CudaDriver &driver_;
  std::array<CuDevicePtr, 4> address_{};
  std::array<int64_t, 4> length_{};
  int64_t heads_ = 0, queryBlocks_ = 0, keyBlocks_ = 0, blockQ_ = 0, blockK_ = 0, seqQ_ = 0;
  CausalRule causal_;
};

} // namespace sieve::runtime

#endif
