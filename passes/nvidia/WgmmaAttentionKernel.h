//===- WgmmaAttentionKernel.h - the Hopper attention kernel -----*- C++ -*-===//
//
// Builds the `wgmma` variant of the GPU kernel (sm_90a): warp-specialized,
// with a producer warp group that streams Q, K and V tiles into shared
// memory by TMA (completion on mbarriers) and consumer warp groups that
// compute S = Q·Kᵀ and O += P·V with warpgroup-level wgmma.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_WGMMAATTENTIONKERNEL_H
#define SIEVE_PASSES_WGMMAATTENTIONKERNEL_H

#include "conversions/LoweringUtils.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "sieve/runtime/TargetInfo.h"

namespace sieve::passes {

/// Compile-time knobs of the Hopper kernel.
struct WgmmaKernelOptions {
  int64_t queryTile = 128; // query rows per thread block: 64 per consumer warp group
  int64_t keyTile = 128;   // keys per pipeline step (divides block_k)
  int64_t stages = 2;      // shared-memory buffers for key/value tiles
  /// Intra-warp-group overlap: S(t) = Q·K(t)ᵀ and O += P(t-1)·V(t-1) are
  /// issued together, and the softmax of tile t runs while the latter is in
  /// flight. A tile's V is read one step after its K, so a tile holds its
  /// stage one step longer: the ring needs 3 or more stages.
  bool overlap = false;
};

/// What the host side needs to launch the kernel.
struct WgmmaKernel {
  mlir::gpu::GPUFuncOp func;
  int64_t threads = 0;      // 128 per warp group: one producer, queryTile/64 consumers
  int64_t blocksPerRow = 0; // thread blocks per work row (block_q / query tile)
  int64_t sharedBytes = 0;  // dynamic shared memory, with 1 KiB of alignment slack
  std::string config;
  /// The TMA descriptor types of q, k and v; the kernel takes them as
  /// pointers (parameters 4, 5, 6).
  mlir::nvgpu::TensorMapDescriptorType queryMap, keyMap, valueMap;
};

/// Why `op` cannot use the Hopper kernel with `options` on `target`, or an
/// empty string.
std::string wgmmaKernelUnsupportedReason(dialect::BlockSparseAttentionOp op,
                                         const WgmmaKernelOptions &options,
                                         const runtime::TargetInfo &target);

/// Builds the kernel into `gpuModule` (which already holds `tables`).
/// Requires wgmmaKernelUnsupportedReason(op, options, target) to be empty.
WgmmaKernel buildWgmmaAttentionKernel(dialect::BlockSparseAttentionOp op,
                                      mlir::gpu::GPUModuleOp gpuModule,
                                      const RowTableGlobals &tables,
                                      const WgmmaKernelOptions &options);

} // namespace sieve::passes

#endif
