//===- MmaAttentionKernel.h - the tensor-core attention kernel -*- C++ -*-===//
//
// Builds the `mma` variant of the GPU kernel for one specialized op: warp-level
// mma.sync m16n8k16 fed by ldmatrix from swizzled shared memory, a cp.async
// pipeline for key/value tiles, and the online softmax in registers.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_MMAATTENTIONKERNEL_H
#define SIEVE_PASSES_MMAATTENTIONKERNEL_H

#include "conversions/LoweringUtils.h"
#include "sieve/runtime/TargetInfo.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace sieve::passes {

/// Compile-time knobs of the tensor-core kernel.
struct MmaKernelOptions {
  int64_t queryTile = 0; // query rows per thread block (divides block_q); 0 = block_q
  int64_t keyTile = 0;   // keys per pipeline step (divides block_k); 0 = per head dim
  int64_t stages = 2;    // shared-memory buffers for key/value tiles
};

/// The key tile when the caller leaves it open: 64 keys up to head dim 128,
/// 32 above (so that two stages of K and V fit a 99 KiB block of sm_86/89
/// at head dim 256 and the score fragment leaves registers to the wider
/// accumulator); block_k itself when smaller, else the largest multiple of
/// 16 below that divides block_k.
int64_t defaultMmaKeyTile(int64_t headDim, int64_t blockK);

/// What the host side needs to launch the kernel.
struct MmaKernel {
  mlir::gpu::GPUFuncOp func;
  int64_t threads = 0;      // one warp per 16 query rows
  int64_t blocksPerRow = 0; // thread blocks per work row (block_q / query tile)
  int64_t sharedBytes = 0;  // dynamic shared memory
  std::string config;       // e.g. "mma block_q=64 block_k=128 key_tile=64 stages=2 warps=4"
};

/// Why `op` cannot use the tensor-core kernel with `options` on `target`,
/// or an empty string when it can.
std::string mmaKernelUnsupportedReason(dialect::BlockSparseAttentionOp op,
                                       const MmaKernelOptions &options,
                                       const runtime::TargetInfo &target);

/// Builds the kernel into `gpuModule` (which already holds `tables`).
/// Requires mmaKernelUnsupportedReason(op, options, target) to be empty.
MmaKernel buildMmaAttentionKernel(dialect::BlockSparseAttentionOp op,
                                  mlir::gpu::GPUModuleOp gpuModule, const RowTableGlobals &tables,
                                  const MmaKernelOptions &options);

} // namespace sieve::passes

#endif
