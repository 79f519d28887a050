//===- CpuPhases.cpp - a CPU kernel as phases of work units ---------------===//
#include "conversions/CpuPhases.h"
#include "conversions/LoweringUtils.h"
#include "conversions/SplitKvWorkspace.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/xxhash.h"

#include <limits>

using namespace mlir;

namespace sieve::passes {

void forEachUnit(ImplicitLocOpBuilder &b, Value begin, Value end,
                 const std::function<void(ImplicitLocOpBuilder &, Value)> &body) {
  buildFor(b, begin, end, indexConst(b, 1), {}, [&](ImplicitLocOpBuilder &b, Value u, ValueRange) {
    body(b, u);
    return SmallVector<Value>{};
  });
}

func::FuncOp
emitLibraryFunction(ModuleOp module, Location loc, StringRef base, TypeRange arguments,
                    const std::function<void(ImplicitLocOpBuilder &, ValueRange)> &body) {
  MLIRContext *ctx = module.getContext();
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  auto fn = func::FuncOp::create(mb, loc, base, mb.getFunctionType(arguments, {}));
  fn->setAttr(kLibraryAttr, UnitAttr::get(ctx));
  Block *entry = fn.addEntryBlock();
  ImplicitLocOpBuilder b(loc, ctx);
  b.setInsertionPointToStart(entry);
  body(b, entry->getArguments());
  func::ReturnOp::create(b);
  // Named by its code: the same body (under the base name) is the same
  // function, here and in every other kernel's library.
  std::string text;
  llvm::raw_string_ostream os(text);
  fn->print(os, OpPrintingFlags().useLocalScope().enableDebugInfo(false));
  std::string name = (base + "_" + llvm::utohexstr(llvm::xxh3_64bits(text))).str();
  if (auto existing = module.lookupSymbol<func::FuncOp>(name)) {
    fn.erase();
    return existing;
  }
  fn.setSymName(name);
  return fn;
}

void callLibrary(ImplicitLocOpBuilder &b, func::FuncOp fn, ValueRange args) {
  SmallVector<Value> cast;
  for (auto [arg, type] : llvm::zip(args, fn.getArgumentTypes()))
    cast.push_back(arg.getType() == type ? arg : memref::CastOp::create(b, type, arg).getResult());
  func::CallOp::create(b, fn, cast);
}

MemRefType withDynamicSizes(MemRefType type, ArrayRef<int> dims) {
  SmallVector<int64_t> shape(type.getShape());
  for (int d : dims)
    shape[d] = ShapedType::kDynamic;
  return MemRefType::get(shape, type.getElementType(), type.getLayout(), type.getMemorySpace());
}

LogicalResult emitHostPhases(Operation *op, ModuleOp module, ArrayRef<KernelArgument> buffers,
                             TypeRange libraryTypes, int64_t workspaceFloats,
                             ArrayRef<HostPhase> phases, StringRef variant, StringRef config) {
  MLIRContext *ctx = op->getContext();
  Location loc = op->getLoc();
  auto index = IndexType::get(ctx);
  auto table = MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 32));
  SmallVector<Type> types(op->getOperandTypes());
  types.append({workspaceType(ctx), index, index});
  const int64_t floats = std::max<int64_t>(workspaceFloats, 1);
  const unsigned n = op->getNumOperands();
  SmallVector<std::pair<func::FuncOp, int64_t>> emitted;
  for (const HostPhase &phase : phases) {
    if (phase.units <= 0)
      continue;
    if (phase.units > std::numeric_limits<int32_t>::max())
      return op->emitOpError() << "has " << phase.units << " work units in its "
                               << runtime::launchRoleName(phase.role)
                               << " phase, more than a launch counts";
    // The library function: the units' loop.
    SmallVector<Type> libraryArgs(libraryTypes.begin(), libraryTypes.end());
    libraryArgs.push_back(workspaceType(ctx));
    libraryArgs.append(phase.tables.size(), table);
    libraryArgs.append(phase.scalars.size() + 2, index);
    const unsigned t = phase.tables.size(), s = phase.scalars.size();
    func::FuncOp library = emitLibraryFunction(
        module, loc, phase.libraryBase, libraryArgs, [&](ImplicitLocOpBuilder &b, ValueRange args) {
          phase.body(b, args.take_front(n), args[n], args.slice(n + 1, t), args.slice(n + 1 + t, s),
                     args[n + 1 + t + s], args[n + 2 + t + s]);
        });
    // The executor calls it through its C interface (descriptors by pointer).
    library->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));

    // The host function: the library's call with this op's tables and values.
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto fn = func::FuncOp::create(mb, loc, phase.name, mb.getFunctionType(types, {}));
    fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    Block *entry = fn.addEntryBlock();
    ImplicitLocOpBuilder b(loc, ctx);
    b.setInsertionPointToStart(entry);
    SmallVector<Value> args(entry->getArguments().take_front(n + 1));
    SmallVector<Attribute> tableNames;
    for (memref::GlobalOp g : phase.tables) {
      args.push_back(memref::GetGlobalOp::create(b, g.getType(), g.getSymName()));
      tableNames.push_back(FlatSymbolRefAttr::get(g.getSymNameAttr()));
    }
    for (int64_t v : phase.scalars)
      args.push_back(indexConst(b, v));
    args.append({entry->getArgument(n + 1), entry->getArgument(n + 2)});
    callLibrary(b, library, args);
    func::ReturnOp::create(b);
    fn->setAttr(
        kHostCallAttr,
        DictionaryAttr::get(
            ctx, {NamedAttribute(StringAttr::get(ctx, "callee"),
                                 FlatSymbolRefAttr::get(library.getSymNameAttr())),
                  NamedAttribute(StringAttr::get(ctx, "tables"), ArrayAttr::get(ctx, tableNames)),
                  NamedAttribute(StringAttr::get(ctx, "scalars"),
                                 DenseI64ArrayAttr::get(ctx, phase.scalars))}));
    LaunchGeometry g;
    g.role = phase.role;
    g.grid = {phase.units, 1, 1};
    g.workspaceBytes = floats * 4;
    SmallVector<KernelArgument> described(buffers.begin(), buffers.end());
    described.push_back(workspaceArgument());
    if (failed(declareHostLaunch(fn, g, described, variant, config)))
      return failure();
    emitted.push_back({fn, phase.units});
  }
  // The op's place: the same phases, one after the other, on this thread.
  ImplicitLocOpBuilder b(loc, op);
  Value heap = memref::AllocOp::create(b, MemRefType::get({floats}, b.getF32Type()),
                                       b.getI64IntegerAttr(64));
  Value workspace = memref::CastOp::create(b, workspaceType(ctx), heap);
  for (auto [fn, units] : emitted) {
    SmallVector<Value> args(op->getOperands());
    args.append({workspace, indexConst(b, 0), indexConst(b, units)});
    func::CallOp::create(b, fn, args);
  }
  memref::DeallocOp::create(b, heap);
  op->erase();
  return success();
}

} // namespace sieve::passes
