//===- LaunchContract.cpp -------------------------------------------------===//
#include "conversions/LaunchContract.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace sieve::runtime;
using sieve::dialect::BlockSparseAttentionBackwardOp;
using sieve::dialect::BlockSparseAttentionOp;

namespace sieve::passes {

SmallVector<KernelArgument> operandArguments(BlockSparseAttentionOp op, bool stepByValue) {
  SmallVector<KernelArgument> args = {{kQuery}, {kKey}, {kValue}, {kOut}};
  if (op.getStats())
    args.push_back({kStats});
  if (op.getThresholds())
    args.push_back({kThresholds});
  if (op.getLse())
    args.push_back({kLse});
  if (op.getPositions() && !stepByValue)
    args.push_back({kPositions});
  if (op.getPositions() && stepByValue)
    for (int element : {0, 1})
      args.push_back({kPositions, false, 0, 0, /*byValue=*/true, element});
  if (op.getSequences())
    args.push_back({kSequences});
  if (op.getPages())
    args.push_back({kPages});
  return args;
}

SmallVector<KernelArgument> operandArguments(BlockSparseAttentionBackwardOp op) {
  SmallVector<KernelArgument> args = {{kQuery}, {kKey}, {kValue}, {kOut}, {kDout},
                                      {kLse},   {kDq},  {kDk},    {kDv}};
  if (op.getThresholds())
    args.push_back({kThresholds});
  return args;
}

SmallVector<KernelArgument> rowTableArguments() {
  return {{kRowHeads}, {kRowQueryBlocks}, {kRowSpans}, {kKeyBlocks}};
}

KernelArgument workspaceArgument() { return {kWorkspace}; }

KernelArgument tensorMapArgument(int slot, int64_t boxRows, int64_t boxCols) {
  return {slot, /*tensorMap=*/true, boxRows, boxCols};
}

namespace {

/// Attaches the launch of `fn` (a gpu.func kernel or a host func.func)
/// whose leading arguments, of `types`, are `arguments`.
LogicalResult attachLaunch(Operation *kernel, TypeRange types, const LaunchGeometry &g,
                           ArrayRef<KernelArgument> arguments, StringRef variant,
                           StringRef config) {
  MLIRContext *ctx = kernel->getContext();
  SmallVector<dialect::ParamAttr> params;
  for (auto [arg, type] : llvm::zip(arguments, types)) {
    const char *name = tensorSlotName(arg.slot);
    if (arg.byValue) {
      if (!type.isInteger(32))
        return kernel->emitOpError() << "takes " << type << " where element " << arg.element
                                     << " of " << name << " goes by value (i32)";
      params.push_back(
          dialect::ParamAttr::get(ctx, ParamSlot{arg.slot, ParamField::Value, arg.element}));
      continue;
    }
    if (arg.tensorMap) {
      if (!isa<LLVM::LLVMPointerType>(type))
        return kernel->emitOpError()
               << "takes " << type << " where the " << name << " tensor map's address goes";
      params.push_back(dialect::ParamAttr::get(
          ctx, ParamSlot{arg.slot, ParamField::TensorMap, 0, arg.boxRows, arg.boxCols}));
      continue;
    }
    auto memref = dyn_cast<MemRefType>(type);
    if (!memref || memref.getRank() != tensorSlotRank(arg.slot))
      return kernel->emitOpError() << "takes " << type << " where the " << name << " buffer (rank "
                                   << tensorSlotRank(arg.slot) << ") goes";
    // A memref descriptor expanded: pointers, offset, sizes, strides.
    for (ParamField f : {ParamField::AllocatedPtr, ParamField::AlignedPtr, ParamField::Offset})
      params.push_back(dialect::ParamAttr::get(ctx, ParamSlot{arg.slot, f, 0}));
    for (ParamField f : {ParamField::Size, ParamField::Stride})
      for (int d = 0; d < memref.getRank(); ++d)
        params.push_back(dialect::ParamAttr::get(ctx, ParamSlot{arg.slot, f, d}));
  }
  auto dims = [](const std::array<int64_t, 3> &d) {
    return SmallVector<int32_t>{static_cast<int32_t>(d[0]), static_cast<int32_t>(d[1]),
                                static_cast<int32_t>(d[2])};
  };
  const SmallVector<int32_t> grid = dims(g.grid), block = dims(g.block);
  auto launch = dialect::LaunchAttr::getChecked(
      [&] { return kernel->emitOpError(); }, ctx, static_cast<int32_t>(g.role),
      ArrayRef<int32_t>(grid), ArrayRef<int32_t>(block), g.sharedBytes, g.workspaceBytes,
      g.alignBytes, ArrayRef<dialect::ParamAttr>(params), g.waitsOnPrevious);
  if (!launch)
    return failure();
  Builder b(ctx);
  dialect::SieveDialect::LaunchAttrHelper launchHelper(ctx);
  launchHelper.setAttr(kernel, launch);
  dialect::SieveDialect::VariantAttrHelper(ctx).setAttr(kernel, b.getStringAttr(variant));
  dialect::SieveDialect::ConfigAttrHelper(ctx).setAttr(kernel, b.getStringAttr(config));
  return success();
}

} // namespace

LogicalResult declareLaunch(gpu::GPUFuncOp kernel, const TargetInfo &target,
                            const LaunchGeometry &g, ArrayRef<KernelArgument> arguments,
                            StringRef variant, StringRef config) {
  if (arguments.size() != kernel.getNumArguments())
    return kernel.emitOpError() << "takes " << kernel.getNumArguments()
                                << " arguments but its launch describes " << arguments.size();
  for (int d = 0; d < 3; ++d)
    if (g.grid[d] > target.maxGrid[d] ||
        g.block[0] * g.block[1] * g.block[2] > target.maxThreadsPerBlock)
      return kernel.emitOpError() << "grid of " << g.grid[0] << " x " << g.grid[1] << " x "
                                  << g.grid[2] << " blocks of " << g.block[0] << " threads "
                                  << "exceeds " << target.chip << "'s limits";
  return attachLaunch(kernel, kernel.getArgumentTypes(), g, arguments, variant, config);
}

LogicalResult declareHostLaunch(func::FuncOp fn, const LaunchGeometry &g,
                                ArrayRef<KernelArgument> buffers, StringRef variant,
                                StringRef config) {
  if (buffers.size() + 2 != fn.getNumArguments())
    return fn.emitOpError() << "takes " << fn.getNumArguments() << " arguments but its launch "
                            << "describes " << buffers.size() << " buffers and a unit range";
  return attachLaunch(fn, fn.getArgumentTypes(), g, buffers, variant, config);
}

} // namespace sieve::passes
