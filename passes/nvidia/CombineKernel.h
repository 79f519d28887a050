//===- CombineKernel.h - split-KV on the GPU: parts' stores, the combine -*- C++ -*-===//
//
// The GPU side of split rows (conversions/SplitKvWorkspace.h has the
// layout and the arithmetic): the tensor-core epilogue of a part, the
// combine kernel that merges each split group into `out`.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_COMBINEKERNEL_H
#define SIEVE_PASSES_NVIDIA_COMBINEKERNEL_H

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

/// The combine kernel, `sieve_combine(out, workspace)`, appended to
/// `gpuModule` (which holds `tables.splitGroups`): one thread per 4 (or 1)
/// output elements of a split group, grid (combineBlocks, batch). With
/// `waitsOnPrevious` (sm_90+) it begins with griddepcontrol.wait, so the
/// runtime launches it as a programmatic dependent launch of the attention
/// kernel: its blocks are placed while the parts' last blocks still run,
/// and wait there for their results, rather than the launch waiting for
/// the attention kernel to end (a few microseconds on a decode step of
/// ten or twenty).
struct CombineKernel {
  mlir::gpu::GPUFuncOp func;
  int64_t blocks = 0, threads = 0;
  bool waitsOnPrevious = false;
};
CombineKernel buildCombineKernel(dialect::BlockSparseAttentionOp op,
                                 mlir::gpu::GPUModuleOp gpuModule, const RowTableGlobals &tables,
                                 bool waitsOnPrevious);

/// Lets the launch after `kernel` (a combine that waits on it) be placed as
/// soon as every block of `kernel` has started: griddepcontrol
/// .launch_dependents first thing in its body (sm_90+).
void emitEarlyDependentLaunch(mlir::gpu::GPUFuncOp kernel);

} // namespace sieve::passes

#endif
