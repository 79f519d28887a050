//===- CpuBackward.h - attention gradients as vectorized host phases -*- C++ -*-===//
//
// The CPU lowering of sieve.block_sparse_attention_backward: the same
// arithmetic as the float64 reference (tests/support/ReferenceBackward.cpp)
// in f32, with the forward's micro-kernels (CpuMicroKernel.h), as host
// phases of work units (CpuPhases.h): pack, dK and dV by the column
// tables, dQ by the row tables.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CPUBACKWARD_H
#define SIEVE_PASSES_CPUBACKWARD_H

#include "sieve/dialect/SieveOps.h"

#include "mlir/IR/BuiltinOps.h"

namespace sieve::passes {

/// Replaces `op` with its host phases for vectors of `hostLanes` f32; its
/// tables become constant globals of `module` named `__sieve_cpu_bwd<index>_*`
/// and its phases functions `__sieve_cpu_bwd<index>_<phase>`.
mlir::LogicalResult lowerBackwardToCpu(dialect::BlockSparseAttentionBackwardOp op,
                                       mlir::ModuleOp module, int index, int64_t hostLanes);

} // namespace sieve::passes

#endif
