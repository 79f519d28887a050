//===- CpuBackwardLoops.h - attention gradients as host loops ---*- C++ -*-===//
//
// The CPU lowering of sieve.block_sparse_attention_backward: the same
// arithmetic as the float64 reference (runtime/lib/ReferenceBackward.cpp)
// in f32, walking dQ by the row tables and dK, dV by the column tables.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CPUBACKWARDLOOPS_H
#define SIEVE_PASSES_CPUBACKWARDLOOPS_H

#include "sieve/dialect/SieveOps.h"

#include "mlir/IR/BuiltinOps.h"

namespace sieve::passes {

/// Replaces `op` with loops; its tables become constant globals of
/// `module` named `__sieve_cpu_bwd<index>_*`.
void lowerBackwardToCpuLoops(dialect::BlockSparseAttentionBackwardOp op, mlir::ModuleOp module,
                             int index);

} // namespace sieve::passes

#endif
