//===- GenerationTile.h - a GPU generation kernel's step and tile -*- C++ -*-===//
//
// A generation op (docs/generation.md) runs every step of a mask over
// positions with one kernel: the step, (q_pos, seq_k_live), arrives at
// launch as two i32 kernel parameters passed by value, so a step writes two
// integers into the launch's parameters and copies nothing to the device.
//
// Its grid is (window, head, query tile) by batch entry: a window is one of
// the position blocks the call's Sq queries may touch (one for a decode
// step, two when a chunk straddles a block boundary), so a thread block's
// query tile lies inside one position block and takes one mask row. The
// tile's rows are rows of q and out (a query's position minus q_pos):
// those before the call's first query wrap below 0 and, as those at or
// past Sq, are neither read nor written (the kernels compare rows against
// Sq unsigned). Causal compares row + q_pos with the key; keys at or past
// seq_k_live are neither read nor counted. A GQA-packed decode op (Sq = 1)
// runs its rows per key head: a tile's rows are that key head's query
// heads, each at query 0 (position q_pos).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_GENERATIONTILE_H
#define SIEVE_PASSES_NVIDIA_GENERATIONTILE_H

#include "nvidia/FragmentBuilder.h"

namespace sieve::passes {

/// The kernel argument types of `op`'s operands, in order: their types, a
/// generation op's positions (memref<2xi32>) as two i32 values, q_pos and
/// seq_k_live.
llvm::SmallVector<mlir::Type> kernelOperandTypes(dialect::BlockSparseAttentionOp op);
/// How many kernel arguments the operands take (kernelOperandTypes' size).
unsigned kernelOperandCount(dialect::BlockSparseAttentionOp op);

/// A generation kernel's grid x: windows x row heads x `tilesPerRow` query
/// tiles of a position block (the op's getGenerationWindows and
/// getGenerationRowHeads) x the parts of a split decode step.
int64_t generationGridX(dialect::BlockSparseAttentionOp op, int64_t tilesPerRow);

/// The first entry of [begin, end) of an ascending key-block list whose
/// block holds no key below `live` (block * block_k >= live), or end: a
/// binary search of a fixed number of steps, enough for a row of
/// `maxEntries`. A row's live key blocks are the entries before it (a
/// generation step's seq_k_live, a ragged sequence's key count).
mlir::Value firstDeadEntry(FragmentBuilder &e, mlir::Value keyBlocks, mlir::Value begin,
                           mlir::Value end, mlir::Value live, int64_t blockK, int64_t maxEntries);

/// What a thread block of a generation kernel works on.
struct GenerationTile {
  mlir::Value qPos, liveKeys; // the step (index values)
  mlir::Value row;            // the work row: position_rows[head, position block]
  mlir::Value head;           // the row's head (GQA-packed: a key head)
  /// The tile's first query as a row of q and out (its position - q_pos);
  /// GQA-packed, its first packed row (query head head x g + row, query 0).
  mlir::Value firstRow;
  /// The row's key-block entries of live keys: [rowBegin, liveEnd) (the
  /// row's blocks ascend, so they are a prefix, found by binary search);
  /// of a split step (`generation_parts` S, docs/generation.md), this
  /// block's part of them: entries [s L, (s + 1) L) of the row, clamped to
  /// the live ones (empty past the live end).
  mlir::Value rowBegin, liveEnd;
  /// A split step's workspace slot, head x S + s (null when not split): its
  /// rows are the call's queries (GQA-packed: the key head's g query heads),
  /// which the combine merges into out.
  mlir::Value slot;
};

/// Emits, at `e`'s insertion point in a kernel whose entry block is
/// `entry`: reads the step, picks block `blockX`'s tile of `queryTile`
/// rows (`tilesPerRow` a position block), and returns from blocks whose
/// tile holds no query of the call. `spans` and `keyBlocks` are the row
/// tables, `tables.positionRows` the position rows.
GenerationTile emitGenerationTile(FragmentBuilder &e, dialect::BlockSparseAttentionOp op,
                                  mlir::Block &entry, mlir::Value blockX, int64_t tilesPerRow,
                                  int64_t queryTile, mlir::Value spans, mlir::Value keyBlocks,
                                  const RowTableGlobals &tables);

} // namespace sieve::passes

#endif
