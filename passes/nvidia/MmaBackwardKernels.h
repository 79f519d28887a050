//===- MmaBackwardKernels.h - the tensor-core backward kernels --*- C++ -*-===//
//
// The sm_80 GPU lowering of sieve.block_sparse_attention_backward: three
// kernels on one stream, all taking the op's operands and the f32 scratch
// (BackwardKernelCommon.h).
//
//   rows:      delta and the lse subtrahend of every query row.
//   key-value: one thread block per (column, 64 keys, batch entry) walks the
//              column table: for each tile reading its key block it streams
//              the tile's Q and dO rows through cp.async stages and adds
//              dV += Pᵀ dO and dK += dSᵀ Q into register accumulators (P
//              recomputed from the saved lse), so every dK and dV row has one
//              writer, GQA query heads included. Above head dim 128 two
//              warps share each 16 keys, each owning half of the columns.
//   query:     one thread block per (row, query tile, batch entry) walks the
//              row table as the forward does and adds dQ += dS K.
//
// Every head dim that is a multiple of 16 up to 128, and of 32 up to 256,
// runs; the tiles a block keeps shrink where the chip's shared memory asks.
//
// Both matrix kernels are mma.sync m16n8k16 with the forward's habits:
// swizzled shared tiles, ldmatrix, accumulator fragments reused as the
// next product's A operand, constant tables, empty rows and columns
// writing zeros without reading anything.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_MMABACKWARDKERNELS_H
#define SIEVE_PASSES_MMABACKWARDKERNELS_H

#include "nvidia/BackwardCommon.h"

namespace sieve::passes {

/// Why the tensor-core backward cannot be built for `op` on `target`, or "".
std::string mmaBackwardUnsupportedReason(dialect::BlockSparseAttentionBackwardOp op,
                                         const runtime::TargetInfo &target);

/// Builds the three kernels into `gpuModule` (tables as its constants),
/// their tiles sized to `target`'s shared memory.
BackwardKernels buildMmaBackwardKernels(dialect::BlockSparseAttentionBackwardOp op,
                                        mlir::gpu::GPUModuleOp gpuModule,
                                        const runtime::TargetInfo &target);

} // namespace sieve::passes

#endif
