//===- SplitParts.h - split-KV on the GPU: a part's store, its group's merge -*- C++ -*-===//
//
// The GPU side of split rows (conversions/SplitKvWorkspace.h has the
// layout and the arithmetic). Each part of a split row leaves its
// normalized output and log-sum-exp in its workspace slot, then counts
// itself in its group's arrival counter; the part that arrives last merges
// the group's parts into `out` and resets the counter. So a split kernel
// is one launch: no combine kernel, no second launch's host cost (4-5 µs
// of cuLaunchKernel a decode step), and no wait for a grid to drain
// before the merge may begin.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_SPLITPARTS_H
#define SIEVE_PASSES_NVIDIA_SPLITPARTS_H

#include "conversions/SplitKvWorkspace.h"
#include "nvidia/FragmentBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace sieve::passes {

/// The tensor-core epilogue of a part: the lane's two rows (queries
/// `queryRow[h]`, of the query block starting at `blockStart`), their f32
/// accumulators `acc` (D/8 chunks of 4, FragmentSoftmax.h's layout), running
/// max `m` (raw scores) and lane-partial sums `l`, normalized into `slot`.
void emitFragmentPartialStore(FragmentBuilder &fb, const ProblemGeometry &g,
                              const WorkspaceLayout &layout, mlir::Value workspace,
                              mlir::Value slot, mlir::Value batchIndex, mlir::Value blockStart,
                              const mlir::Value queryRow[2], mlir::Value laneCol,
                              llvm::ArrayRef<mlir::Value> acc, const mlir::Value m[2],
                              const mlir::Value l[2]);

/// The rows of a group that one thread block of a part stored, and so
/// counts itself for: a part's block covers one query tile of its row, and
/// the group's parts of that tile meet at the tile's own counter (the
/// counter's `tile` of `tilesPerGroup`), whose last arrival merges rows
/// [firstRow, firstRow + rows) of the slot (clipped to the slot's rows).
struct PartTile {
  mlir::Value tile, firstRow;
  int64_t rows = 0, tilesPerGroup = 1;
};
/// A split row's block `blockX` of `blocksPerRow`, query tiles of
/// `queryTile` rows of the row's block_q.
PartTile splitRowTile(FragmentBuilder &e, mlir::Value blockX, int64_t blocksPerRow,
                      int64_t queryTile);
/// A split generation step's tile (GenerationTile's `firstRow`) of
/// `tilesPerRow`: GQA-packed, the packed rows it covers; else (a decode
/// step, Sq = 1) the call's one query, which one tile of the row holds.
PartTile generationPartTile(FragmentBuilder &e, dialect::BlockSparseAttentionOp op,
                            mlir::Value firstRow, int64_t tilesPerRow, int64_t queryTile);

/// The threads of a block that stored the part and run the merge: thread
/// `thread` of `threads`, which meet at named barrier `barrier` (the
/// whole block's 0, or the wgmma body's consumers' own).
struct PartThreads {
  mlir::Value thread;
  int64_t threads = 0, barrier = 0;
};

/// After a part's store, at a point every thread of `threads` reaches: the
/// block counts itself at its tile's counter, and the last of the group's
/// parts to arrive merges their results into `out` (one thread per 4, or
/// 1, output elements, looping). The counters start at 0 (the runtime
/// zeroes a workspace when it allocates one) and the last arrival leaves
/// them at 0. `out` is the op's output operand inside the kernel.
void emitPartArrival(FragmentBuilder &e, dialect::BlockSparseAttentionOp op,
                     const RowTableGlobals &tables, mlir::Value out, mlir::Value workspace,
                     mlir::Value slot, mlir::Value batchIndex, const PartTile &tile,
                     const PartThreads &threads);

} // namespace sieve::passes

#endif
