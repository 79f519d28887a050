//===- SimtAttentionKernel.h - the scalar GPU body --------------*- C++ -*-===//
#ifndef SIEVE_PASSES_NVIDIA_SIMTATTENTIONKERNEL_H
#define SIEVE_PASSES_NVIDIA_SIMTATTENTIONKERNEL_H

#include "conversions/LoweringUtils.h"
#include "sieve/dialect/SieveOps.h"
#include "sieve/runtime/TargetInfo.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace sieve::passes {

struct SimtKernel {
  mlir::gpu::GPUFuncOp func;
  int64_t gridX = 0, threads = 0; // grid (gridX, batch): one block per row, one thread per query
  std::string config;
};

/// Why the simt body cannot run `op` on `target` (one thread per query row
/// of a block), or "".
std::string simtKernelUnsupportedReason(dialect::BlockSparseAttentionOp op,
                                        const runtime::TargetInfo &target);

/// The simt body's kernel for `op`, appended to `gpuModule` (whose
/// `tables` it reads): its arguments are the op's operands, then the
/// workspace when the op has split rows. Key chunks of `chunkElements`
/// elements per operand are staged in shared memory. Takes every shape and
/// dtype, calibration (a stats operand) and threshold mode. Requires
/// simtKernelUnsupportedReason(op, target) to be empty.
SimtKernel buildSimtAttentionKernel(dialect::BlockSparseAttentionOp op,
                                    mlir::gpu::GPUModuleOp gpuModule, const RowTableGlobals &tables,
                                    int64_t chunkElements);

} // namespace sieve::passes

#endif
