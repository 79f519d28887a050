//===- SplitKv.h - partial results of split rows and their combine -*- C++ -*-===//
//
// A row that sieve-split-rows cut into parts is computed by several thread
// blocks, each over a piece of its key list. Each part leaves, in its
// workspace slot, its own normalized output and the log2-sum-exp of its
// scaled scores; a combine kernel then weighs the parts by 2^(lse - max)
// and writes `out`. The workspace is one f32 buffer the runtime allocates
// per launch:
//
//   partial[slot][batch][row in block_q][d]   then   lse[slot][batch][row]
//
// The helpers here are shared by the three GPU bodies (tensor-core
// fragments or one scalar row per thread), the host-side launch and the
// CPU backend's loops, which run the same schedule (and so check it in CI).
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_SPLITKV_H
#define SIEVE_PASSES_SPLITKV_H

#include "FragmentMath.h"
#include "LoweringUtils.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace sieve::passes {

/// Where a split op's parts leave their results.
struct WorkspaceLayout {
  int64_t slots = 0, batch = 0, blockQ = 0, headDim = 0;
  static WorkspaceLayout of(dialect::BlockSparseAttentionOp op);
  int64_t floats() const { return slots * batch * blockQ * (headDim + 1); }
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

/// The tensor-core epilogue of a part: the lane's two rows (queries
/// `queryRow[h]`, of the query block starting at `blockStart`), their f32
/// accumulators `acc` (D/8 chunks of 4, FragmentMath.h's layout), running
/// max `m` (raw scores) and lane-partial sums `l`, normalized into `slot`.
void emitFragmentPartialStore(FragmentBuilder &fb, const ProblemGeometry &g,
                              const WorkspaceLayout &layout, mlir::Value workspace,
                              mlir::Value slot, mlir::Value batchIndex, mlir::Value blockStart,
                              const mlir::Value queryRow[2], mlir::Value laneCol,
                              llvm::ArrayRef<mlir::Value> acc, const mlir::Value m[2],
                              const mlir::Value l[2]);

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

/// The combine kernel, `sieve_combine(out, workspace)`, appended to
/// `gpuModule` (which holds `tables.splitGroups`): one thread per 4 (or 1)
/// output elements of a split group, grid (combineBlocks, batch).
struct CombineKernel {
  mlir::gpu::GPUFuncOp func;
  int64_t blocks = 0, threads = 0;
};
CombineKernel buildCombineKernel(dialect::BlockSparseAttentionOp op,
                                 mlir::gpu::GPUModuleOp gpuModule, const RowTableGlobals &tables);

/// Host side, before the op's launch is built: the workspace operand (a
/// stand-in buffer marked `sieve.workspace`, which the runtime allocates per
/// launch), appended to `operands` when the op has split rows. Returns it.
mlir::Value appendWorkspaceOperand(mlir::ImplicitLocOpBuilder &hb,
                                   dialect::BlockSparseAttentionOp op,
                                   llvm::SmallVectorImpl<mlir::Value> &operands);

/// Host side, after the attention launch: the combine launch, marked
/// `sieve.combine`, on the same stream (the runtime orders them).
void emitCombineLaunch(mlir::ImplicitLocOpBuilder &hb, dialect::BlockSparseAttentionOp op,
                       const CombineKernel &kernel, mlir::Value workspace);

} // namespace sieve::passes

#endif
