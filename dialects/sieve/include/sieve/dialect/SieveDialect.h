//===- SieveDialect.h - the sieve dialect -----------------------*- C++ -*-===//
#ifndef SIEVE_DIALECT_SIEVEDIALECT_H
#define SIEVE_DIALECT_SIEVEDIALECT_H

#include "mlir/IR/Dialect.h"

#include "sieve/dialect/SieveDialect.h.inc"

#endif
