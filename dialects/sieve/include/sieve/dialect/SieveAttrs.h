//===- SieveAttrs.h - sieve attributes --------------------------*- C++ -*-===//
#ifndef SIEVE_DIALECT_SIEVEATTRS_H
#define SIEVE_DIALECT_SIEVEATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "sieve/runtime/LaunchContract.h"

#include "sieve/dialect/SieveEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "sieve/dialect/SieveAttrs.h.inc"

#endif
