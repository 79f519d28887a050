//===- SieveDialect.cpp - dialect registration ----------------------------===//
#include "sieve/dialect/SieveDialect.h"
#include "sieve/dialect/SieveAttrs.h"
#include "sieve/dialect/SieveOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace sieve::dialect;

#include "sieve/dialect/SieveDialect.cpp.inc"

#include "sieve/dialect/SieveEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "sieve/dialect/SieveAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "sieve/dialect/SieveOps.cpp.inc"

void SieveDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "sieve/dialect/SieveAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "sieve/dialect/SieveOps.cpp.inc"
      >();
}
