//===- SieveDialect.h - the sieve dialect -----------------------*- C++ -*-===//
#ifndef SIEVE_DIALECT_SIEVEDIALECT_H
#define SIEVE_DIALECT_SIEVEDIALECT_H

#include "mlir/IR/Dialect.h"
// The dialect's discardable attributes (sieve.launch) are its own.
#include "sieve/dialect/SieveAttrs.h"

#include "sieve/dialect/SieveDialect.h.inc"

#endif
