//===- BackwardCommon.h - what the GPU backward kernels share -----*- C++ -*-===//
//
// The GPU backward of sieve.block_sparse_attention_backward runs as a rows
// kernel followed by a dK/dV kernel (by columns) and a dQ kernel (by rows),
// on the mma.sync kernels (MmaBackwardKernels) or the sm_90a wgmma ones
// (WgmmaBackwardKernels). All take the op's operands and one f32 scratch
// that the rows kernel fills, per query row of every (batch, query head):
//
//   scratch[rowIndex]             delta = dout . out (0 past Sq)
//   scratch[rows + rowIndex]      lse * log2(e), the subtrahend of P's
//                                 exponent; +inf past Sq and for a row
//                                 without keys (lse -inf), so its P are 0
//
// with rowIndex = (bi * Hq + h) * paddedSeqQ + query and paddedSeqQ the
// query blocks' extent (Sq rounded up to block_q): the matrix kernels read
// any query of a block without bounds checks.
//
// Threshold mode (the op's optional thresholds, f32 [Hq]): every kernel
// takes them as its last argument, after the scratch and any TMA
// descriptors, so the other arguments keep the plain backward's positions
// (and the plain kernels stay as they were). The matrix kernels drop each
// recomputed score under its head's threshold before the exponent, so its
// P and dS are 0.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_BACKWARDCOMMON_H
#define SIEVE_PASSES_NVIDIA_BACKWARDCOMMON_H

#include "nvidia/FragmentSoftmax.h"
#include "sieve/runtime/TargetInfo.h"

#include "sieve/dialect/SieveOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <string>

namespace sieve::passes {

/// Launch geometry of one backward kernel: grid (x, batch), block threads.
struct BackwardLaunch {
  mlir::gpu::GPUFuncOp func;
  int64_t gridX = 0, threads = 0, sharedBytes = 0;
  std::string config;
  /// The operands it takes after the op's and the scratch: TMA descriptors
  /// of these op operands (index into the op's operands), `boxRows` rows.
  llvm::SmallVector<std::pair<unsigned, int64_t>> tensorMaps;
  /// The bytes of a box row (one slab of the kernel's tiles: SlabLayout).
  int64_t slabRowBytes = 0;
};

struct BackwardKernels {
  BackwardLaunch rows, keyValue, query;
  std::string variant; // "mma" or "wgmma"
};

/// The backward's problem, fixed at compile time.
struct BackwardProblem : ProblemGeometry {
  double scale;
  int64_t paddedSeqQ;
  int64_t scratchRows() const { return batch * headsQ * paddedSeqQ; }
};
BackwardProblem backwardProblemOf(dialect::BlockSparseAttentionBackwardOp op);

/// The op's constant tables, in the kernel module.
struct BackwardTables {
  mlir::memref::GlobalOp rowHeads, rowQueryBlocks, rowSpans, keyBlocks;
  mlir::memref::GlobalOp colKvHeads, colKeyBlocks, colSpans, colQueryHeads, colQueryBlocks;
};
BackwardTables createBackwardTables(mlir::OpBuilder &gb,
                                    dialect::BlockSparseAttentionBackwardOp op);
mlir::Value getGlobal(mlir::ImplicitLocOpBuilder &b, mlir::memref::GlobalOp g);

/// Kernel argument positions: the op's nine tensor operands, then the
/// scratch (then extra arguments, then the thresholds when present).
enum BackwardArg { kQ, kK, kV, kOut, kDout, kLse, kDq, kDk, kDv, kScratch };

/// An empty kernel `name` taking the op's tensor operands, the scratch,
/// `extraArgs` and, in threshold mode, the thresholds, launched with
/// `threads` threads.
mlir::gpu::GPUFuncOp createBackwardKernel(mlir::OpBuilder &gb,
                                          dialect::BlockSparseAttentionBackwardOp op,
                                          llvm::StringRef name, int64_t threads,
                                          mlir::TypeRange extraArgs = {});

/// Threshold mode: the kernel's thresholds argument (its last), or null
/// when the op has none.
mlir::Value backwardThresholdsArgument(dialect::BlockSparseAttentionBackwardOp op,
                                       mlir::Block &entry);

/// The scratch index of (bi, h, query): add scratchRows() for the lse half.
mlir::Value scratchIndex(FragmentBuilder &e, const BackwardProblem &p, mlir::Value bi,
                         mlir::Value h, mlir::Value query);

/// Why neither tensor-core backward takes `op`'s operands (elements other
/// than f16/bf16, a head dimension without a static unit stride), or "".
/// Each body checks the head dims it takes itself.
std::string tensorCoreOperandsUnsupportedReason(dialect::BlockSparseAttentionBackwardOp op);

/// The number of rows of the op with at least one tile.
int64_t activeRowsOf(dialect::BlockSparseAttentionBackwardOp op);

/// Zeroes the probabilities Pᵀ (keys are the rows, `keyRow[half]` the
/// lane's, queries the columns from `firstQuery` on) where a query's
/// position (causalSees, `causalOffset`) comes before its key, only on
/// steps whose queries may precede the warp's last key.
void maskTransposed(FragmentBuilder &e, Fragment &p, mlir::Value firstQuery,
                    mlir::Value warpLastKey, mlir::Value laneCol, const mlir::Value keyRow[2],
                    int64_t causalOffset);

} // namespace sieve::passes

#endif
