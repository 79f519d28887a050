//===- FragmentEpilogue.h - accumulator rows to global memory ---*- C++ -*-===//
//
// The epilogue of every tensor-core kernel (the mma.sync and wgmma
// forwards, and the dQ, dK and dV of both backwards): a group of threads
// holds rows of an f32 accumulator in FragmentSoftmax.h's fragment layout;
// each thread scales its values per row, packs them to 16-bit pairs and
// stores them into a swizzled shared tile, the group synchronizes, then
// each thread copies whole 16-byte chunks of rows to global memory, rows
// past a limit skipped. Coalesced, 16-byte-aligned stores instead of the
// fragment's scattered 4-byte ones.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_FRAGMENTEPILOGUE_H
#define SIEVE_PASSES_NVIDIA_FRAGMENTEPILOGUE_H

#include "nvidia/FragmentBuilder.h"

#include <functional>
#include <utility>

namespace sieve::passes {

/// Where the rows wait in shared memory: the (row, column) of the staging
/// tile that holds 16-byte chunk `chunk` of staged row `row`. Each kernel
/// family stages through a tile of its own layout (MmaEmitter's swizzled
/// rows, WgmmaEmitter's swizzled 64-column slabs).
struct StagingLayout {
  /// For the fragment stores, whose chunk is known at compile time.
  std::function<std::pair<mlir::Value, mlir::Value>(mlir::Value row, int64_t chunk)> fragmentChunk;
  /// For the row copies, which spread chunks over the threads.
  std::function<std::pair<mlir::Value, mlir::Value>(mlir::Value row, mlir::Value chunk)> copyChunk;
};

/// The threads that stage and copy rows together, 16 rows a warp: a warp
/// (mma.sync) or a warp group (wgmma), and this thread's place in it.
struct StoreGroup {
  int64_t threads;
  mlir::Value thread;    // this thread's index in the group
  mlir::Value groupRow0; // the group's first staged row
  mlir::Value warpRow0;  // the first staged row of this thread's warp
  mlir::Value laneRow;   // the lane's accumulator row and first column
  mlir::Value laneCol;
  /// The group's own named barrier; null: the whole block's barrier.
  mlir::Value barrierId;

  int64_t rows() const { return threads / 32 * 16; }
};

/// Writes the group's rows of an accumulator of `headDim` columns (`acc`:
/// headDim/8 chunks of 4, times factor[half] for the lane's row halves when
/// `factor` is given) to dst[bi, head, firstRow + row, :] for rows below
/// `limit` (or, when given, the run-time `liveLimit`: a ragged sequence's
/// end in the packed rows), staged through `tile` laid out as `layout`.
/// The group's rows of the tile must be free (its last readers done).
void storeFragmentRows(FragmentBuilder &e, int64_t headDim, llvm::ArrayRef<mlir::Value> acc,
                       const mlir::Value *factor, const StoreGroup &group,
                       const StagingLayout &layout, mlir::Value tile, mlir::Value dst,
                       mlir::Value bi, mlir::Value head, mlir::Value firstRow, int64_t limit,
                       mlir::Value liveLimit = {});

/// The `columns` columns of the [B, H, S, D] memref `dst` from 16-byte
/// chunk `firstChunk` on (group-uniform), as a memref of the same rank for
/// storeFragmentRows to write: the epilogue of a group that owns a window
/// of an accumulator's columns.
mlir::Value columnWindow(FragmentBuilder &e, mlir::Value dst, mlir::Value firstChunk,
                         int64_t columns);

} // namespace sieve::passes

#endif
