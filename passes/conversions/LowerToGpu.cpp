//===- LowerToGpu.cpp - block-sparse attention as a GPU kernel -------------===//
//
// Chooses the kernel body (nvidia/: the Hopper `wgmma`, the tensor-core
// `mma` or the scalar `simt` one), emits it into its own gpu.module with the
// row tables, and replaces the op by the launch.
//
//===----------------------------------------------------------------------===//
#include "conversions/LaunchContract.h"
#include "conversions/LoweringUtils.h"
#include "nvidia/MmaAttentionKernel.h"
#include "nvidia/SimtAttentionKernel.h"
#include "nvidia/MmaBackwardKernels.h"
#include "nvidia/CombineKernel.h"
#include "nvidia/WgmmaAttentionKernel.h"
#include "nvidia/WgmmaBackwardKernels.h"
#include "nvidia/WgmmaEmitter.h"
#include "nvidia/ZeroRows.h"
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

namespace sieve::passes {
#define GEN_PASS_DEF_LOWERTOGPU
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using namespace sieve::passes;
using sieve::dialect::BlockSparseAttentionOp;
namespace runtime = sieve::runtime;

namespace {

/// The tables of a tensor-core kernel: constant globals of its gpu.module,
/// or (generic) none, the kernel taking them as arguments.
RowTableGlobals kernelTables(OpBuilder &gb, BlockSparseAttentionOp op, bool generic) {
  if (generic)
    return RowTableGlobals{{}, {}, {}, {}, /*atLaunch=*/true};
  return createRowTableGlobals(gb, op.getLoc(), op, "sieve");
}

/// The gpu.module a tensor-core kernel goes into, with its tables (none when
/// generic), after checking that the grid (rows x blocksPerRow, batch) fits.
FailureOr<std::pair<gpu::GPUModuleOp, RowTableGlobals>> openKernelModule(BlockSparseAttentionOp op,
                                                                         ModuleOp module, int index,
                                                                         int64_t blocksPerRow,
                                                                         bool generic) {
  const int64_t batch = op.getQuery().getType().getDimSize(0);
  if (op.getNumRows() * blocksPerRow > std::numeric_limits<int32_t>::max() || batch > 65535)
    return op.emitOpError() << "grid of " << op.getNumRows() * blocksPerRow << " x " << batch
                            << " blocks exceeds the GPU's limits";
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  auto gpuModule =
      gpu::GPUModuleOp::create(mb, op.getLoc(), "sieve_kernels" + std::to_string(index));
  OpBuilder gb = OpBuilder::atBlockBegin(gpuModule.getBody());
  return std::make_pair(gpuModule, kernelTables(gb, op, generic));
}

/// The tensor-core kernels' alignment: cp.async and TMA move 16 bytes at a time.
constexpr int64_t kVectorCopyAlign = 16;

/// Declares the launches of a forward kernel (and of its combine kernel
/// when the op has split rows) and erases the op: one block per (row,
/// query tile) and batch entry, the kernel's arguments `arguments` before
/// the generic kernel's tables and the split rows' workspace.
LogicalResult declareForwardLaunches(BlockSparseAttentionOp op, gpu::GPUFuncOp func,
                                     int64_t blocksPerRow, int64_t threads, int64_t sharedBytes,
                                     SmallVector<KernelArgument> arguments, StringRef variant,
                                     const std::string &config, bool generic,
                                     const CombineKernel &combine, int64_t alignBytes) {
  if (generic)
    arguments.append(rowTableArguments());
  const int64_t workspaceBytes =
      op.hasSplitRows() ? WorkspaceLayout::of(op).floats() * int64_t(sizeof(float)) : 0;
  if (op.hasSplitRows())
    arguments.push_back(workspaceArgument());
  const int64_t batch = op.getQuery().getType().getDimSize(0);
  LaunchGeometry g;
  g.grid = {rowLaunchOf(op, blocksPerRow, generic).gridX(), batch, 1};
  g.block = {threads, 1, 1};
  g.sharedBytes = sharedBytes;
  g.workspaceBytes = workspaceBytes;
  g.alignBytes = alignBytes;
  if (failed(declareLaunch(func, g, arguments, generic ? "generic" : variant,
                           (generic ? "generic " + config : config) + describeSplit(op))))
    return failure();
  if (combine.func) {
    LaunchGeometry c;
    c.role = runtime::LaunchRole::Combine;
    c.grid = {combine.blocks, batch, 1};
    c.block = {combine.threads, 1, 1};
    c.workspaceBytes = workspaceBytes;
    if (failed(declareLaunch(combine.func, c, {{runtime::kOut}, workspaceArgument()}, variant,
                             "combine")))
      return failure();
  }
  op.erase();
  return success();
}

/// The combine kernel of an op with split rows (none otherwise), in the
/// attention kernel's module.
CombineKernel combineKernelOf(BlockSparseAttentionOp op, gpu::GPUModuleOp gpuModule,
                              const RowTableGlobals &tables) {
  return op.hasSplitRows() ? buildCombineKernel(op, gpuModule, tables) : CombineKernel{};
}

LogicalResult lowerSimt(BlockSparseAttentionOp op, ModuleOp module, int index,
                        int64_t chunkElements) {
  auto opened = openKernelModule(op, module, index, /*blocksPerRow=*/1, /*generic=*/false);
  if (failed(opened))
    return failure();
  auto kernel = buildSimtAttentionKernel(op, opened->first, opened->second, chunkElements);
  if (failed(kernel))
    return failure();
  CombineKernel combine = combineKernelOf(op, opened->first, opened->second);
  // The scalar body copies no 16-byte vectors: no alignment assumed.
  return declareForwardLaunches(op, kernel->func, /*blocksPerRow=*/1, kernel->threads,
                                /*sharedBytes=*/0, operandArguments(op), "simt", kernel->config,
                                /*generic=*/false, combine, /*alignBytes=*/0);
}

LogicalResult lowerMma(BlockSparseAttentionOp op, ModuleOp module, int index,
                       const MmaKernelOptions &options, bool generic) {
  const int64_t queryTile =
      options.queryTile > 0 ? std::min<int64_t>(options.queryTile, op.getBlockQ()) : op.getBlockQ();
  auto opened = openKernelModule(op, module, index, op.getBlockQ() / queryTile, generic);
  if (failed(opened))
    return failure();
  MmaKernel kernel = buildMmaAttentionKernel(op, opened->first, opened->second, options);
  CombineKernel combine = combineKernelOf(op, opened->first, opened->second);
  return declareForwardLaunches(op, kernel.func, kernel.blocksPerRow, kernel.threads,
                                kernel.sharedBytes, operandArguments(op), "mma", kernel.config,
                                generic, combine, kVectorCopyAlign);
}

/// The kernel argument of a TMA descriptor of the tensor in `slot`, boxes
/// as `type` says (the kernel takes the descriptor's device address).
KernelArgument tmaArgument(int slot, nvgpu::TensorMapDescriptorType type) {
  ArrayRef<int64_t> box = type.getTensor().getShape();
  return tensorMapArgument(slot, box[box.size() - 2], box[box.size() - 1]);
}

LogicalResult lowerWgmma(BlockSparseAttentionOp op, ModuleOp module, int index,
                         const WgmmaKernelOptions &options, bool generic) {
  auto opened = openKernelModule(op, module, index, op.getBlockQ() / options.queryTile, generic);
  if (failed(opened))
    return failure();
  WgmmaKernel kernel = buildWgmmaAttentionKernel(op, opened->first, opened->second, options);
  CombineKernel combine = combineKernelOf(op, opened->first, opened->second);

  // q, k and v also travel as TMA descriptors: a 4-d tensor map whose box
  // is one 64-column slab of a tile, which the runtime encodes
  // (cuTensorMapEncodeTiled) from the launch's tensors.
  SmallVector<KernelArgument> arguments = operandArguments(op);
  arguments.push_back(tmaArgument(runtime::kQuery, kernel.queryMap));
  arguments.push_back(tmaArgument(runtime::kKey, kernel.keyMap));
  arguments.push_back(tmaArgument(runtime::kValue, kernel.valueMap));
  return declareForwardLaunches(op, kernel.func, kernel.blocksPerRow, kernel.threads,
                                kernel.sharedBytes, arguments, "wgmma", kernel.config, generic,
                                combine, kVectorCopyAlign);
}

/// The backward's three launches in place of the op: rows (delta and lse),
/// then dK/dV by columns, then dQ by rows, all on the op's operands and a
/// scratch of 2 x B x Hq x padded Sq floats that the runtime allocates per
/// launch (the host side of a GPU artifact is read, never run). `hopper`
/// picks the wgmma kernels where they apply (or where `variant` asks).
LogicalResult lowerBackward(sieve::dialect::BlockSparseAttentionBackwardOp op, ModuleOp module,
                            int index, bool hopper, StringRef variant) {
  const bool wantWgmma = variant == "wgmma" || (variant == "auto" && hopper);
  std::string wgmmaReason = wantWgmma ? wgmmaBackwardUnsupportedReason(op) : "not asked for";
  if (variant == "wgmma" && !wgmmaReason.empty())
    return op.emitOpError() << "variant=wgmma: the Hopper backward " << wgmmaReason;
  const bool useWgmma = wgmmaReason.empty();
  if (!useWgmma) {
    std::string reason = mmaBackwardUnsupportedReason(op);
    if (!reason.empty())
      return op.emitOpError() << "the GPU backward (tensor cores) " << reason;
  }
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  auto gpuModule =
      gpu::GPUModuleOp::create(mb, op.getLoc(), "sieve_backward_kernels" + std::to_string(index));
  BackwardKernels kernels =
      useWgmma ? buildWgmmaBackwardKernels(op, gpuModule) : buildMmaBackwardKernels(op, gpuModule);

  const BackwardProblem problem = backwardProblemOf(op);
  SmallVector<KernelArgument> operands = operandArguments(op);
  operands.push_back(workspaceArgument());
  for (auto [launch, role] :
       {std::pair<BackwardLaunch *, runtime::LaunchRole>{&kernels.rows,
                                                          runtime::LaunchRole::BackwardRows},
        {&kernels.keyValue, runtime::LaunchRole::BackwardKeyValue},
        {&kernels.query, runtime::LaunchRole::BackwardQuery}}) {
    SmallVector<KernelArgument> arguments(operands);
    for (auto [operand, rows] : launch->tensorMaps)
      arguments.push_back(
          tmaArgument(operandArguments(op)[operand].slot,
                      swizzledTensorMapType(op.getContext(), problem.elt, rows)));
    LaunchGeometry g;
    g.role = role;
    g.grid = {launch->gridX, problem.batch, 1};
    g.block = {launch->threads, 1, 1};
    g.sharedBytes = launch->sharedBytes;
    // delta and lse * log2(e) per padded query row.
    g.workspaceBytes = 2 * problem.scratchRows() * int64_t(sizeof(float));
    g.alignBytes = kVectorCopyAlign;
    if (failed(declareLaunch(launch->func, g, arguments, kernels.variant, launch->config)))
      return failure();
  }
  op.erase();
  return success();
}

/// SMs of the Hopper parts sm_90a targets (H100 SXM and H200: 132).
constexpr int64_t kHopperSms = 132;

/// The Hopper kernel's query tile when the caller leaves it open. 128-row
/// tiles are the faster body, but when the mask leaves so few active rows
/// that their blocks fill at most half the SMs (a sparse mask on a short
/// sequence, few heads), 64-row tiles double the blocks and finish sooner:
/// measured on an H100 (docs/perf-notes.md, v3), 64 active 128-row blocks
/// took 0.032 ms as 128-row tiles and 0.025 ms as 64-row tiles, while at
/// 128 blocks the two tie and at 512 the 128-row tiles win by 25%. So this
/// choice depends on the mask (its active rows), not just the shape.
int64_t defaultWgmmaQueryTile(BlockSparseAttentionOp op) {
  if (op.getBlockQ() % 128 != 0)
    return 64;
  int64_t blocks =
      op.getNumActiveRows() * (op.getBlockQ() / 128) * op.getQuery().getType().getDimSize(0);
  return blocks <= kHopperSms / 2 ? 64 : 128;
}

struct LowerToGpuPass : public sieve::passes::impl::LowerToGpuBase<LowerToGpuPass> {
  using LowerToGpuBase::LowerToGpuBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (chunkElements <= 0) {
      module.emitError() << "sieve-lower-to-gpu: chunk-elements must be positive";
      return signalPassFailure();
    }
    if (variant != "auto" && variant != "wgmma" && variant != "mma" && variant != "simt" &&
        variant != "generic") {
      module.emitError()
          << "sieve-lower-to-gpu: variant must be auto, wgmma, mma, simt or generic, not '"
          << variant << "'";
      return signalPassFailure();
    }
    const bool hopper = chip == "sm_90a";
    if (variant == "wgmma" && !hopper) {
      module.emitError() << "sieve-lower-to-gpu: variant=wgmma needs chip=sm_90a (wgmma, TMA and "
                            "setmaxnreg are sm_90a features), not '"
                         << chip << "'";
      return signalPassFailure();
    }
    SmallVector<BlockSparseAttentionOp> ops;
    module.walk([&](BlockSparseAttentionOp op) { ops.push_back(op); });
    SmallVector<sieve::dialect::BlockSparseAttentionBackwardOp> backward;
    module.walk([&](sieve::dialect::BlockSparseAttentionBackwardOp op) { backward.push_back(op); });
    for (auto [i, op] : llvm::enumerate(backward)) {
      if (variant != "auto" && variant != "mma" && variant != "wgmma") {
        op.emitOpError() << "the backward runs on the wgmma or mma kernels, not variant="
                         << variant;
        return signalPassFailure();
      }
      if (failed(lowerBackward(op, module, static_cast<int>(i), hopper, variant)))
        return signalPassFailure();
    }
    bool unsupported = false;
    for (BlockSparseAttentionOp op : ops)
      if (op.getLse() && (variant == "generic" || op.hasSplitRows())) {
        op.emitOpError() << "operand 'lse' needs a specialized kernel with whole rows (not "
                            "variant=generic or split rows)";
        unsupported = true;
      }
    if (unsupported)
      return signalPassFailure();
    int index = 0;
    for (BlockSparseAttentionOp op : ops) {
      // Calibration (a `stats` operand) is a second pass per query row in
      // the scalar body, and threshold mode a test per score there; the
      // tensor-core bodies have neither.
      if (op.getStats() || op.getThresholds()) {
        if (variant != "auto" && variant != "simt") {
          op.emitOpError() << "operand '"
                           << (op.getStats() ? "stats' (calibration)" : "thresholds'")
                           << " runs on the simt body, not variant=" << variant;
          return signalPassFailure();
        }
        if (failed(lowerSimt(op, module, index++, chunkElements)))
          return signalPassFailure();
        continue;
      }
      if (variant == "generic" && op.hasSplitRows()) {
        op.emitOpError() << "variant=generic reads its mask at launch and cannot run split rows "
                            "(sieve-split-rows is for specialized kernels)";
        return signalPassFailure();
      }
      // Tile defaults per kernel (a 0 option means "choose"): the
      // configurations measured best on the H100 (docs/perf-notes.md).
      const int64_t blockQ = op.getBlockQ(), blockK = op.getBlockK();
      WgmmaKernelOptions wgmmaOptions{queryTile > 0 ? queryTile : defaultWgmmaQueryTile(op),
                                      keyTile > 0 ? keyTile : (blockK % 128 == 0 ? 128 : 64),
                                      stages};
      MmaKernelOptions mmaOptions{queryTile > 0 ? queryTile : (blockQ % 64 == 0 ? 64 : blockQ),
                                  keyTile > 0 ? keyTile : 64, stages};
      LogicalResult lowered = failure();
      if (variant == "generic") {
        // The mask is data: the tensor-core body for the shape, tables as
        // arguments, one block per (head, query block) whatever is kept.
        std::string wgmmaReason = hopper ? wgmmaKernelUnsupportedReason(op, wgmmaOptions) : "no";
        std::string mmaReason = mmaKernelUnsupportedReason(op, mmaOptions);
        if (wgmmaReason.empty())
          lowered = lowerWgmma(op, module, index++, wgmmaOptions, /*generic=*/true);
        else if (mmaReason.empty())
          lowered = lowerMma(op, module, index++, mmaOptions, /*generic=*/true);
        else
          op.emitOpError() << "variant=generic runs on the tensor-core kernels: " << mmaReason;
        if (failed(lowered))
          return signalPassFailure();
        continue;
      }
      if (variant == "wgmma" || (variant == "auto" && hopper)) {
        std::string reason = wgmmaKernelUnsupportedReason(op, wgmmaOptions);
        if (reason.empty()) {
          if (failed(lowerWgmma(op, module, index++, wgmmaOptions, /*generic=*/false)))
            return signalPassFailure();
          continue;
        }
        if (variant == "wgmma") {
          op.emitOpError() << "variant=wgmma " << reason;
          return signalPassFailure();
        }
      }
      std::string reason = variant == "simt" ? "" : mmaKernelUnsupportedReason(op, mmaOptions);
      if (variant == "mma" && !reason.empty()) {
        op.emitOpError() << "variant=mma " << reason;
      } else if (variant != "simt" && reason.empty()) {
        lowered = lowerMma(op, module, index++, mmaOptions, /*generic=*/false);
      } else {
        lowered = lowerSimt(op, module, index++, chunkElements);
      }
      if (failed(lowered))
        return signalPassFailure();
    }
  }
};

} // namespace
