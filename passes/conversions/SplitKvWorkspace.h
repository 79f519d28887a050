//===- SplitKvWorkspace.h - split rows' parts and their merge ---*- C++ -*-===//
//
// A row that sieve-split-rows cut into parts is computed over several
// pieces of its key list. Each part leaves, in its workspace slot, its own
// normalized output and the log2-sum-exp of its scaled scores; a combine
// step then weighs the parts by 2^(lse - max) and writes `out`. The
// workspace is one f32 buffer:
//
//   partial[slot][batch][row in block_q][d]   then   lse[slot][batch][row]
//
// and, on the GPU, where the last part of a group to finish runs the merge
// (nvidia/SplitParts.h), the parts' arrival counters after it:
//
//   arrivals[batch][group][query tile of the group's block]   (u32, zeroed)
//
// What here is target-neutral: the layout, the per-row branch between a
// part and a whole row, the scalar part store and the merge's arithmetic,
// shared by the GPU kernels (nvidia/SplitParts.h) and the CPU backend's
// loops, which run the same schedule and so check it in CI.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CONVERSIONS_SPLITKVWORKSPACE_H
#define SIEVE_PASSES_CONVERSIONS_SPLITKVWORKSPACE_H

#include "conversions/LoweringUtils.h"

namespace sieve::passes {

/// Where a split op's parts leave their results.
struct WorkspaceLayout {
  // blockQ: the rows a slot holds (the op's block_q; a split generation
  // op's, the call's queries of a row: Sq, or g when packed).
  int64_t slots = 0, batch = 0, blockQ = 0, headDim = 0, groups = 0;
  static WorkspaceLayout of(dialect::BlockSparseAttentionOp op);
  /// The parts' results: partial and lse.
  int64_t floats() const { return slots * batch * blockQ * (headDim + 1); }
  /// The 4-byte words of the parts' results and of the arrival counters of
  /// `tilesPerGroup` query tiles per group (the GPU's workspace).
  int64_t wordsWithArrivals(int64_t tilesPerGroup) const {
    return floats() + batch * groups * tilesPerGroup;
  }
  /// Index (in 4-byte words) of arrivals[batch][group][tile].
  mlir::Value arrivalIndex(mlir::ImplicitLocOpBuilder &b, mlir::Value batchIndex, mlir::Value group,
                           mlir::Value tile, int64_t tilesPerGroup) const;
  /// Index of partial[slot][batch][row][d] and of lse[slot][batch][row].
  mlir::Value partialIndex(mlir::ImplicitLocOpBuilder &b, mlir::Value slot, mlir::Value batchIndex,
                           mlir::Value row, mlir::Value d) const;
  mlir::Value lseIndex(mlir::ImplicitLocOpBuilder &b, mlir::Value slot, mlir::Value batchIndex,
                       mlir::Value row) const;
  /// (slot, batch, row) flattened: the row's place among all parts' rows.
  mlir::Value rowIndex(mlir::ImplicitLocOpBuilder &b, mlir::Value slot, mlir::Value batchIndex,
                       mlir::Value row) const;
};

/// The kernel argument type of the workspace (a flat f32 buffer).
mlir::MemRefType workspaceType(mlir::MLIRContext *ctx);

/// Emits `if (row_slots[row] >= 0) partial() else whole()` for an op with
/// split rows, or just whole() when it has none. `partial` gets the slot.
void emitSlotBranch(mlir::ImplicitLocOpBuilder &b, const RowTableGlobals &tables, mlir::Value row,
                    const std::function<void(mlir::Value slot)> &partial,
                    const std::function<void()> &whole);

/// (1 / sum, log2-sum-exp) of a part: a part with no key (sum 0) stores
/// zeros and -inf, so the combine gives it no weight; a NaN sum stays NaN.
/// `logMax` is the part's maximum in log2 units.
std::pair<mlir::Value, mlir::Value> partScales(mlir::ImplicitLocOpBuilder &b, mlir::Value sum,
                                               mlir::Value logMax, const ScalarFn &log2);

/// The scalar epilogue of a part: one query row `rowInBlock` whose
/// accumulator `acc` (memref<D x f32>), max (log2 domain, scores already
/// scaled) and sum are final for its piece of the keys. `log2` is the
/// target's (the simt body's and the host loops' epilogue).
void emitScalarPartialStore(mlir::ImplicitLocOpBuilder &b, const WorkspaceLayout &layout,
                            mlir::Value workspace, mlir::Value slot, mlir::Value batchIndex,
                            mlir::Value rowInBlock, mlir::Value acc, mlir::Value max,
                            mlir::Value sum, const ScalarFn &log2);

/// The combine's arithmetic, the same on every target: a running weighted
/// sum over parts, `acc` (an f32 or a vector of them: output elements of
/// one row) and `den` (the weights' sum) against the running maximum `max`
/// of the parts' log2-sum-exps. mergeParts folds parts in (their lse and
/// normalized outputs) and returns the new state; `exp2` is the target's.
struct PartsMerge {
  mlir::Value acc, den, max;
};
PartsMerge mergeParts(mlir::ImplicitLocOpBuilder &b, PartsMerge running,
                      llvm::ArrayRef<mlir::Value> lse, llvm::ArrayRef<mlir::Value> parts,
                      const ScalarFn &exp2);
/// What the merged `acc` is multiplied by: 1 / den, or 0 for a row no part
/// saw a key of.
mlir::Value mergedScale(mlir::ImplicitLocOpBuilder &b, mlir::Value den);

/// What split-KV did to the schedule (" split_kv=N rows into M parts"),
/// for the artifact's configuration; "" when the op has no split rows.
std::string describeSplit(dialect::BlockSparseAttentionOp op);

} // namespace sieve::passes

#endif
