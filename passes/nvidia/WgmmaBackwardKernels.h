//===- WgmmaBackwardKernels.h - the Hopper backward kernels -----*- C++ -*-===//
//
// The sm_90a lowering of sieve.block_sparse_attention_backward: the rows
// kernel (BackwardKernelCommon.h), then two warp-specialized kernels with
// the forward's habits (a producer warp group issuing TMA loads of
// swizzled column slabs, SlabLayout; completion on mbarriers; consumer warp
// groups of 64 rows each computing with wgmma), at every head dim that is
// a multiple of 16 up to 256:
//
//   key-value: one block per (column, 64 or 128 keys, batch entry) keeps its
//              K and V tiles and streams the column's Q and dO tiles, 64
//              queries a step: Sᵀ = K Qᵀ and dPᵀ = V dOᵀ
//              (shared-memory operands), then dV += Pᵀ dO and dK += dSᵀ Q
//              with Pᵀ and dSᵀ as register A operands. A second producer
//              warp copies the step's delta and lse rows into shared
//              memory. Above D = 128 two consumer warp groups share 64
//              keys, each owning half of dK's and dV's columns.
//   query:     one block per (row, 64 or 128 queries, batch entry) keeps Q
//              and dO and streams the row's K and V tiles (128, 64 or 32
//              keys a step by head dim): S = Q Kᵀ, dP = dO Vᵀ, then dQ +=
//              dS K with dS from registers.
//
// Every dQ, dK and dV row has one writer; nothing is accumulated atomically.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_WGMMABACKWARDKERNELS_H
#define SIEVE_PASSES_WGMMABACKWARDKERNELS_H

#include "nvidia/BackwardCommon.h"

namespace sieve::passes {

/// Why the Hopper backward cannot be built for `op` on `target`, or "".
std::string wgmmaBackwardUnsupportedReason(dialect::BlockSparseAttentionBackwardOp op,
                                           const runtime::TargetInfo &target);

/// Builds the three kernels into `gpuModule` (tables as its constants).
/// The matrix kernels take TMA descriptors after the scratch, as their
/// BackwardLaunch::tensorMaps list.
BackwardKernels buildWgmmaBackwardKernels(dialect::BlockSparseAttentionBackwardOp op,
                                          mlir::gpu::GPUModuleOp gpuModule);

} // namespace sieve::passes

#endif
