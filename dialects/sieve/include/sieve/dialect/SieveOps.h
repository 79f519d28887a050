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

#define GET_OP_CLASSES
#include "sieve/dialect/SieveOps.h.inc"

#endif
