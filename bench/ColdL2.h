//===- ColdL2.h - empty the L2 of the benchmarks' data, by reading -*- C++ -*-===//
//
// A memory-bound kernel timed on a warm L2 reads part of its inputs from
// the cache its previous launch filled; TimingOptions::coldCache times it
// the way a model's layer runs instead, with its inputs in HBM. The L2 is
// emptied of them by *reading* a buffer of five times its size: a write
// (cuMemsetD8) would leave the L2 full of dirty lines, which the timed
// kernel then pays to write back (up to 50 MB: ~16 us at 3 TB/s, a third
// of a 50 us decode step) while a model's decode step finds mostly clean
// lines (the previous layer's weights) there.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_BENCH_COLDL2_H
#define SIEVE_BENCH_COLDL2_H

#include "sieve/runtime/CudaDriver.h"

namespace sieve::bench {

class ColdL2 {
public:
  /// Allocates the buffer and loads the reading kernel (once per process:
  /// later calls return the same object).
  static Expected<ColdL2 *> get(const runtime::CudaDriver &driver);
  /// Queues the read on the legacy default stream (asynchronous to the
  /// host): the next work on that stream finds none of its data in L2.
  Error evict() const;

private:
  const runtime::CudaDriver *drv_ = nullptr;
  runtime::CuFunction read_ = nullptr;
  runtime::CuDevicePtr buffer_ = 0, sink_ = 0;
};

} // namespace sieve::bench

#endif
