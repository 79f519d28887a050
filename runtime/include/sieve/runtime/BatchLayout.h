//===- BatchLayout.h - ragged batches and paged KV at launch ----*- C++ -*-===//
//
// A ragged kernel (Artifact::ragged) serves B sequences of different
// lengths packed one after another, given their cumulative offsets as
// varlen kernels take them; a paged kernel (Artifact::pageSize) reads K and
// V through a page table. Both are launch-time data of one compiled kernel
// (docs/ragged-paged.md). This is that data and its one check, shared by
// every executor and API.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_BATCHLAYOUT_H
#define SIEVE_RUNTIME_BATCHLAYOUT_H

#include "sieve/Error.h"
#include "sieve/runtime/Artifact.h"
#include "sieve/runtime/TensorView.h"

#include <cstdint>
#include <vector>

namespace sieve::runtime {

/// Host arrays the caller owns for one launch.
struct BatchLayout {
  /// A ragged kernel's cumulative offsets, [B + 1] each, non-decreasing:
  /// sequence b's queries are rows cuSeqlensQ[b] .. cuSeqlensQ[b + 1] - 1
  /// of q and out (viewed [1, Hq, total_q, D]), its keys rows
  /// cuSeqlensK[b] .. of k and v ([1, Hkv, total_k, D]); with a paged
  /// kernel cuSeqlensK gives the key lengths only. Null for other kernels.
  const int32_t *cuSeqlensQ = nullptr;
  const int32_t *cuSeqlensK = nullptr;
  /// A paged kernel's page table, [B, Artifact::pagesPerSequence()]
  /// row-major: key j of sequence b is row j % pageSize of page
  /// pageTable[b][j / pageSize] of k and v ([pages, Hkv, pageSize, D]).
  /// Entries past a sequence's last key are not read. Null otherwise.
  const int32_t *pageTable = nullptr;
};

/// What the kernel reads: the offsets as one i32 [2, B + 1] table
/// (cu_seqlens_q, then cu_seqlens_k; empty when not ragged) and the page
/// table (null when not paged).
struct BatchLaunch {
  std::vector<int32_t> sequences;
  const int32_t *pages = nullptr;
};

/// Checks a launch of a ragged or paged artifact, naming what is wrong in
/// the caller's terms: the arrays the kernel needs are given (and no
/// others), offsets start at 0 or more and never decrease, no sequence is
/// longer than the kernel's seq_q / seq_k (the compiled mask's grid), the
/// offsets stay inside q, k, v and out, which have the layout's shapes,
/// dtype and memory, and every page a sequence's keys reach is in the pool.
Expected<BatchLaunch> checkBatchLayout(const Artifact &artifact, const BatchLayout &layout,
                                       const TensorView &q, const TensorView &k,
                                       const TensorView &v, const TensorView &out,
                                       DeviceKind device);

} // namespace sieve::runtime

#endif
