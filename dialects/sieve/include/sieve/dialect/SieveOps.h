//===- SieveOps.h - sieve operations ----------------------------*- C++ -*-===//
#ifndef SIEVE_DIALECT_SIEVEOPS_H
#define SIEVE_DIALECT_SIEVEOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "sieve/dialect/SieveAttrs.h"
#include "sieve/dialect/SieveDialect.h"

#include <optional>

namespace sieve::dialect {
/// The causal offset of an attention op: query i sees keys j <= i + offset,
/// 0 for top-left (`align` absent or top_left), Sk - Sq for bottom-right.
int64_t causalOffsetOf(std::optional<CausalAlign> align, mlir::MemRefType query,
                       mlir::MemRefType key);
} // namespace sieve::dialect

#define GET_OP_CLASSES
#include "sieve/dialect/SieveOps.h.inc"

#endif
