//===- ExternDynamicShared.cpp - dynamic shared memory as an extern array ===//
//
// See sieve-extern-dynamic-shared in Passes.td for why: the zero-sized
// internal global that convert-gpu-to-nvvm makes for gpu.dynamic_shared_memory
// becomes a one-byte static variable in PTX, and static variables placed
// after it overlap the region the kernel uses.
//
//===----------------------------------------------------------------------===//
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace sieve::passes {
#define GEN_PASS_DEF_EXTERNDYNAMICSHARED
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;

namespace {

/// A declaration of dynamic shared memory: a zero-sized array in the shared
/// address space with no initializer.
bool isDynamicSharedMemory(LLVM::GlobalOp global) {
  auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
  return global.getAddrSpace() == static_cast<unsigned>(NVVM::NVVMMemorySpace::Shared) && array &&
         array.getNumElements() == 0 && !global.getValueOrNull() &&
         global.getInitializerRegion().empty();
}

struct ExternDynamicSharedPass
    : sieve::passes::impl::ExternDynamicSharedBase<ExternDynamicSharedPass> {
  void runOnOperation() override {
    getOperation().walk([](LLVM::GlobalOp global) {
      if (isDynamicSharedMemory(global) && global.getLinkage() != LLVM::Linkage::External) {
        global.setLinkage(LLVM::Linkage::External);
        // Public: an external declaration may not be private to the module.
        SymbolTable::setSymbolVisibility(global, SymbolTable::Visibility::Public);
      }
    });
  }
};

} // namespace
