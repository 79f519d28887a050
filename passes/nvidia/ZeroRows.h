//===- ZeroRows.h - empty rows leave the attention launch -------*- C++ -*-===//
//
// A row the mask empties (an empty query block, or every row of a pruned
// head) has no attention to compute: its output is zeros. A specialized
// kernel gives those rows no attention block at all: the launch is the
// active rows' blocks followed by a few zero-fill blocks, each clearing a
// group of empty rows with plain stores. Zero-fill blocks read nothing,
// not even the queries.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_ZEROROWS_H
#define SIEVE_PASSES_ZEROROWS_H

#include "conversions/LoweringUtils.h"

namespace sieve::passes {

/// How a specialized op's launch is laid out along grid x.
struct RowLaunch {
  int64_t attentionBlocks = 0; // active rows x blocks per row, first
  int64_t zeroBlocks = 0;      // then these, for the empty rows
  int64_t firstEmptyRow = 0;   // rows [firstEmptyRow, numRows) are empty
  int64_t rowsPerZeroBlock = 1;
  int64_t gridX() const { return attentionBlocks + zeroBlocks; }
};

/// The layout for `op` (rows sorted longest first, so empty rows are last).
/// Generic kernels (the mask is data) keep one block per row: `generic`
/// gives every row `blocksPerRow` attention blocks and no zero blocks.
RowLaunch rowLaunchOf(dialect::BlockSparseAttentionOp op, int64_t blocksPerRow, bool generic);
/// The same for a specialized kernel of `rows` rows, the first
/// `activeRows` of which have work, each row blockQ x headDim elements of
/// `elementBytes` (the backward's dQ kernel).
RowLaunch rowLaunchOf(int64_t rows, int64_t activeRows, int64_t blockQ, int64_t headDim,
                      int64_t elementBytes, int64_t blocksPerRow);

/// Emits, at `b`'s insertion point inside a kernel whose entry block is
/// `entry`, the branch that sends blocks past `launch.attentionBlocks` to
/// zero-fill their group of empty rows of `out` and return. `b` is left at
/// the start of the attention path. `vectorWidth` elements are stored at
/// once (the head dimension must be a multiple and, for widths over 1,
/// contiguous and aligned, as the tensor-core kernels require). With `lse`
/// (a forward that saves its log-sum-exp) the empty rows' entries are set
/// to -inf. Does nothing when the launch has no zero blocks.
void emitZeroRowBlocks(mlir::ImplicitLocOpBuilder &b, const ProblemGeometry &g,
                       const RowLaunch &launch, mlir::Value out, mlir::Value heads,
                       mlir::Value queryBlocks, mlir::Value blockX, mlir::Value batchIndex,
                       mlir::Value threadIndex, int64_t threads, int64_t vectorWidth,
                       mlir::Value lse = {});

} // namespace sieve::passes

#endif
