//===- CpuPhases.h - a CPU kernel as phases of work units -------*- C++ -*-===//
//
// The CPU backend runs a kernel as a short sequence of phases (pack the
// keys and values into the workspace, then attention; split-KV's combine
// after it; the backward's packing, dK/dV and dQ). Each phase is a host
// function over a range of independent work units,
//
//   func.func @name(<the op's operands>, %workspace: memref<?xf32>,
//                   %begin: index, %end: index)
//
// with a #sieve.launch contract (role, units as the grid's x, workspace
// bytes) that the compiler copies into the artifact. Units of one phase
// write disjoint outputs and never read each other's, so the executor runs
// them on any threads in any order with the same result; it runs the
// phases in order. The op itself becomes the serial run of the same
// phases (a heap workspace, every unit of each phase), so the lowered
// module also works called as one function.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_PASSES_CONVERSIONS_CPUPHASES_H
#define SIEVE_PASSES_CONVERSIONS_CPUPHASES_H

#include "conversions/LaunchContract.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>
#include <string>

namespace sieve::passes {

/// One phase of a CPU kernel. Its units' loop is a function of the
/// kernel's library (see emitLibraryFunction), which takes the op's
/// operands (in the library's types: sequence lengths dynamic), the
/// workspace, `tables` (i32 tables: memref<?xi32>), `scalars` (index
/// values: sequence lengths, slot counts) and the unit range; the phase's
/// host function `name` calls it with this op's tables and values. The
/// executor calls the library function directly (the call is recorded on
/// the host function, `sieve.host_call`), so a kernel whose library was
/// compiled before costs no JIT compilation at all.
struct HostPhase {
  runtime::LaunchRole role = runtime::LaunchRole::Attention;
  std::string name;        // the host function's symbol
  std::string libraryBase; // the library function's name, before its hash
  int64_t units = 0;
  llvm::SmallVector<mlir::memref::GlobalOp> tables;
  llvm::SmallVector<int64_t> scalars;
  /// Emits the units [begin, end) in the library function.
  std::function<void(mlir::ImplicitLocOpBuilder &, mlir::ValueRange operands, mlir::Value workspace,
                     mlir::ValueRange tables, mlir::ValueRange scalars, mlir::Value begin,
                     mlir::Value end)>
      body;
};

/// Emits every phase with units: its library function and its host
/// function at the end of `module` (the launch describes `buffers`, the
/// op's operands, then the workspace); replaces `op` with their serial run
/// over a heap workspace of `workspaceFloats` floats. `libraryTypes` are
/// the op's operand types as the library takes them.
mlir::LogicalResult emitHostPhases(mlir::Operation *op, mlir::ModuleOp module,
                                   llvm::ArrayRef<KernelArgument> buffers,
                                   mlir::TypeRange libraryTypes, int64_t workspaceFloats,
                                   llvm::ArrayRef<HostPhase> phases, llvm::StringRef variant,
                                   llvm::StringRef config);

/// for (unit = begin; unit < end; ++unit) body(unit).
void forEachUnit(mlir::ImplicitLocOpBuilder &b, mlir::Value begin, mlir::Value end,
                 const std::function<void(mlir::ImplicitLocOpBuilder &, mlir::Value)> &body);

/// A function of the kernel's library: the body of a unit (the tiles, the
/// micro-kernels, the softmax), which depends on the op's tile
/// configuration (block sizes, head dimension, element type, options) but
/// not on its mask or its sequence lengths: it takes the row tables and
/// the lengths as arguments. The phases (the driver) call it per unit.
/// Its name is `base` and a hash of its body, so kernels whose library
/// code is the same name the same function, and the executor compiles it
/// once for all of them (compiler/lib/Compiler.cpp puts the library in the
/// artifact's code apart from the driver). Returns the function (an
/// existing one of `module` when the code is the same).
mlir::func::FuncOp emitLibraryFunction(
    mlir::ModuleOp module, mlir::Location loc, llvm::StringRef base, mlir::TypeRange arguments,
    const std::function<void(mlir::ImplicitLocOpBuilder &, mlir::ValueRange)> &body);

/// Calls `fn` with `args`, each memref cast to the type the function takes
/// (static sizes to the library's dynamic ones).
void callLibrary(mlir::ImplicitLocOpBuilder &b, mlir::func::FuncOp fn, mlir::ValueRange args);

/// `type` with the sizes of `dims` made dynamic (the library's view of a
/// tensor whose sequence length is an argument).
mlir::MemRefType withDynamicSizes(mlir::MemRefType type, llvm::ArrayRef<int> dims);

} // namespace sieve::passes

#endif
