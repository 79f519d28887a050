//===- BackwardRowsKernel.h - the backward's first kernel -------*- C++ -*-===//
//
// The rows kernel of the GPU backward (nvidia/BackwardCommon.h has the
// scratch it fills): delta = dout . out and lse * log2(e) per padded query
// row, read by the dK/dV and dQ kernels that follow it.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_NVIDIA_BACKWARDROWSKERNEL_H
#define SIEVE_PASSES_NVIDIA_BACKWARDROWSKERNEL_H

#include "nvidia/BackwardCommon.h"

namespace sieve::passes {

/// The rows kernel: delta and lse*log2(e) of every padded query row.
BackwardLaunch buildBackwardRowsKernel(dialect::BlockSparseAttentionBackwardOp op,
                                       mlir::gpu::GPUModuleOp gpuModule, const BackwardProblem &p);

} // namespace sieve::passes

#endif
