//===- LowerToGpu.cpp - block-sparse attention as GPU kernels --------------===//
//
// Each kernel body (nvidia/: the Hopper `wgmma`, the tensor-core `mma`, the
// scalar `simt`, and the `generic` form of the first two that reads its
// mask at launch; the backward's `wgmma` and `mma` kernels) is a rewrite
// pattern. A pattern matches an op when its body can run it on the target
// and declines, with the reason, otherwise; choosing a variant is choosing
// a pattern (`auto`: every body, the fastest first by benefit), and an op
// no pattern takes is reported with every body's reason. A pattern emits
// its kernels into a gpu.module of their own, declares each kernel's launch
// contract (#sieve.launch) on it, and erases the op.
//
//===----------------------------------------------------------------------===//
#include "conversions/LaunchContract.h"
#include "conversions/LoweringUtils.h"
#include "conversions/SplitKvWorkspace.h"
#include "conversions/TargetLimits.h"
#include "nvidia/GenerationTile.h"
#include "nvidia/MmaAttentionKernel.h"
#include "nvidia/MmaBackwardKernels.h"
#include "nvidia/SimtAttentionKernel.h"
#include "nvidia/WgmmaAttentionKernel.h"
#include "nvidia/WgmmaBackwardKernels.h"
#include "nvidia/WgmmaEmitter.h"
#include "nvidia/ZeroRows.h"
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Rewrite/FrozenRewritePatternSet.h"
#include "mlir/Rewrite/PatternApplicator.h"

#include <optional>

namespace sieve::passes {
#define GEN_PASS_DEF_LOWERTOGPU
#include "sieve/passes/Passes.h.inc"
} // namespace sieve::passes

using namespace mlir;
using namespace sieve::passes;
using sieve::dialect::BlockSparseAttentionBackwardOp;
using sieve::dialect::BlockSparseAttentionOp;
namespace runtime = sieve::runtime;

namespace {

/// The tensor-core kernels' alignment: cp.async and TMA move 16 bytes at a time.
constexpr int64_t kVectorCopyAlign = 16;

/// What every pattern of one pass run shares.
struct GpuLowering {
  ModuleOp module;
  runtime::TargetInfo target;
  int64_t queryTile, keyTile, stages, chunkElements; // the pass's options (0: the body's default)
  bool overlap; // wgmma: the softmax beside the products (WgmmaKernelOptions::overlap)
  int nextModule = 0;
  /// A pattern whose rewrite failed after it had begun (it emitted why).
  bool failed = false;
  /// The body of the last pattern that took an op ("simt", "mma", ...).
  std::string chosen;

  /// A new gpu.module for one op's kernels.
  gpu::GPUModuleOp openModule(Location loc, StringRef prefix) {
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(module.getContext()));
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    return gpu::GPUModuleOp::create(mb, loc, prefix.str() + std::to_string(nextModule++));
  }
};

/// A kernel body as a pattern: it declines with unsupportedReason(op) and
/// otherwise lowers the op, which must then succeed (a failure there is the
/// lowering's own bug, reported on the op).
template <typename OpT> struct BodyPattern : OpRewritePattern<OpT> {
  BodyPattern(MLIRContext *ctx, GpuLowering &lowering, StringRef body, PatternBenefit benefit)
      : OpRewritePattern<OpT>(ctx, benefit), lowering(lowering), body(body) {}

  virtual std::string unsupportedReason(OpT op) const = 0;
  virtual LogicalResult lower(OpT op) const = 0;

  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rewriter) const final {
    std::string reason = unsupportedReason(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, body + " " + reason);
    lowering.chosen = body;
    if (failed(lower(op)))
      lowering.failed = true;
    else
      rewriter.eraseOp(op);
    return success();
  }

  GpuLowering &lowering;
  std::string body;
};

//===----------------------------------------------------------------------===//
// Forward bodies
//===----------------------------------------------------------------------===//

/// The tables of a kernel: constant globals of its gpu.module, or
/// (generic) none, the kernel taking them as arguments.
RowTableGlobals kernelTables(gpu::GPUModuleOp gpuModule, BlockSparseAttentionOp op, bool generic) {
  if (generic)
    return RowTableGlobals{{}, {}, {}, {}, /*atLaunch=*/true};
  OpBuilder gb = OpBuilder::atBlockBegin(gpuModule.getBody());
  RowTableGlobals tables = createRowTableGlobals(gb, op.getLoc(), op, "sieve");
  if (op.isGeneration())
    tables.positionRows =
        createConstantTable(gb, op.getLoc(), "sieve_position_rows", positionRowTable(op));
  return tables;
}

/// A forward kernel's grid x: its rows' blocks then the zero-fill blocks,
/// or a generation kernel's (window, head, query tile) blocks.
int64_t forwardGridX(BlockSparseAttentionOp op, int64_t blocksPerRow, bool generic) {
  return op.isGeneration() ? generationGridX(op, blocksPerRow)
                           : rowLaunchOf(op, blocksPerRow, generic).gridX();
}

/// Why `op`'s grid (its rows' blocks, then zero-fill blocks, by batch)
/// exceeds the target's, or "".
std::string forwardGridReason(BlockSparseAttentionOp op, int64_t blocksPerRow, bool generic,
                              const runtime::TargetInfo &target) {
  return gridUnsupportedReason(target, forwardGridX(op, blocksPerRow, generic),
                               op.getQuery().getType().getDimSize(0));
}

/// What a forward body built, for its launch contract.
struct ForwardKernel {
  gpu::GPUFuncOp func;
  int64_t blocksPerRow, threads, sharedBytes, alignBytes;
  SmallVector<KernelArgument> arguments; // before the generic kernel's tables and the workspace
  std::string config;
};

/// Declares the launch of a forward kernel: one block per (row, query
/// tile) and batch entry. A split op's kernel also takes the workspace,
/// its parts' results and arrival counters (nvidia/SplitParts.h).
LogicalResult declareForwardLaunch(BlockSparseAttentionOp op, const GpuLowering &lowering,
                                   ForwardKernel kernel, StringRef variant, bool generic) {
  if (generic)
    kernel.arguments.append(rowTableArguments());
  const int64_t workspaceBytes =
      op.hasSplitParts()
          ? WorkspaceLayout::of(op).wordsWithArrivals(kernel.blocksPerRow) * int64_t(sizeof(float))
          : 0;
  if (op.hasSplitParts())
    kernel.arguments.push_back(workspaceArgument());
  const int64_t batch = op.getQuery().getType().getDimSize(0);
  LaunchGeometry g;
  g.grid = {forwardGridX(op, kernel.blocksPerRow, generic), batch, 1};
  g.block = {kernel.threads, 1, 1};
  g.sharedBytes = kernel.sharedBytes;
  g.workspaceBytes = workspaceBytes;
  g.alignBytes = kernel.alignBytes;
  return declareLaunch(kernel.func, lowering.target, g, kernel.arguments,
                       generic ? "generic" : variant,
                       (generic ? "generic " + kernel.config : kernel.config) + describeSplit(op) +
                           describeGqaPacking(op));
}

/// Calibration (the stats operand) runs on the specialized bodies, whose
/// second pass reads the row's key tiles again; the generic kernel, whose
/// row tables are launch data, has no second pass.
std::string calibrationReason(BlockSparseAttentionOp op, bool generic) {
  if (op.getStats() && generic)
    return "does not run operand 'stats' (calibration); the specialized bodies do";
  return "";
}

/// GQA-packed rows (sieve-pack-gqa) carry a segment table the generic
/// kernel's launch tables have no place for (the pipeline never packs it).
std::string packingReason(BlockSparseAttentionOp op, bool generic) {
  if (op.isGqaPacked() && generic)
    return "does not run GQA-packed rows (sieve-pack-gqa); the specialized bodies do";
  return "";
}

/// Generation (the positions operand) picks its rows from constant tables
/// at launch: the specialized tensor-core bodies do, not the generic one
/// (whose tables are launch data) nor the scalar one.
std::string generationReason(BlockSparseAttentionOp op, bool specializedTensorCores) {
  if (op.isGeneration() && !specializedTensorCores)
    return "does not run generation (operand 'positions'); the specialized mma and wgmma bodies "
           "do";
  return "";
}

/// A ragged or paged batch (operands `sequences`, `pages`;
/// docs/ragged-paged.md) reads each sequence's lengths and rows at launch:
/// the specialized mma body does (BatchSequence.h). The wgmma body's TMA
/// boxes and the generic and scalar bodies do not take them yet, nor does
/// any GPU body take them with threshold mode (the CPU backend does).
std::string batchLayoutReason(BlockSparseAttentionOp op, bool takesBatchLayout) {
  if (!op.hasBatchLayout())
    return "";
  if (!takesBatchLayout)
    return "does not run ragged batches or paged KV (operands 'sequences', 'pages'); the "
           "specialized mma body does";
  if (op.getThresholds())
    return "does not run threshold mode (operand 'thresholds') on a ragged or paged batch; the "
           "CPU backend does";
  return "";
}

struct SimtForward : BodyPattern<BlockSparseAttentionOp> {
  using BodyPattern::BodyPattern;
  std::string unsupportedReason(BlockSparseAttentionOp op) const override {
    if (op.isGqaPacked())
      return "does not run GQA-packed rows (sieve-pack-gqa); the tensor-core bodies do";
    if (std::string reason = generationReason(op, false); !reason.empty())
      return reason;
    if (std::string reason = batchLayoutReason(op, false); !reason.empty())
      return reason;
    if (std::string reason = simtKernelUnsupportedReason(op, lowering.target); !reason.empty())
      return reason;
    return forwardGridReason(op, 1, /*generic=*/false, lowering.target);
  }
  LogicalResult lower(BlockSparseAttentionOp op) const override {
    gpu::GPUModuleOp gpuModule = lowering.openModule(op.getLoc(), "sieve_kernels");
    RowTableGlobals tables = kernelTables(gpuModule, op, /*generic=*/false);
    SimtKernel kernel = buildSimtAttentionKernel(op, gpuModule, tables, lowering.chunkElements);
    // The scalar body copies no 16-byte vectors: no alignment assumed.
    return declareForwardLaunch(
        op, lowering, {kernel.func, 1, kernel.threads, 0, 0, operandArguments(op), kernel.config},
        "simt", /*generic=*/false);
  }
};

/// The mma body, specialized or (`generic`) reading its mask at launch.
struct MmaForward : BodyPattern<BlockSparseAttentionOp> {
  MmaForward(MLIRContext *ctx, GpuLowering &lowering, bool generic, PatternBenefit benefit)
      : BodyPattern(ctx, lowering, generic ? "mma (generic)" : "mma", benefit), generic(generic) {}
  bool generic;

  MmaKernelOptions optionsFor(BlockSparseAttentionOp op) const {
    const int64_t blockQ = op.getBlockQ();
    return {lowering.queryTile > 0 ? lowering.queryTile : (blockQ % 64 == 0 ? 64 : blockQ),
            lowering.keyTile > 0 ? lowering.keyTile : 0 /* per head dim */, lowering.stages};
  }
  int64_t blocksPerRow(BlockSparseAttentionOp op) const {
    const int64_t queryTile = lowering.queryTile > 0
                                  ? std::min<int64_t>(lowering.queryTile, op.getBlockQ())
                                  : op.getBlockQ();
    return op.getBlockQ() / queryTile;
  }
  std::string unsupportedReason(BlockSparseAttentionOp op) const override {
    if (std::string reason = calibrationReason(op, generic); !reason.empty())
      return reason;
    if (std::string reason = packingReason(op, generic); !reason.empty())
      return reason;
    if (std::string reason = generationReason(op, !generic); !reason.empty())
      return reason;
    if (std::string reason = batchLayoutReason(op, !generic); !reason.empty())
      return reason;
    if (std::string reason = mmaKernelUnsupportedReason(op, optionsFor(op), lowering.target);
        !reason.empty())
      return reason;
    return forwardGridReason(op, blocksPerRow(op), generic, lowering.target);
  }
  LogicalResult lower(BlockSparseAttentionOp op) const override {
    gpu::GPUModuleOp gpuModule = lowering.openModule(op.getLoc(), "sieve_kernels");
    RowTableGlobals tables = kernelTables(gpuModule, op, generic);
    MmaKernel kernel = buildMmaAttentionKernel(op, gpuModule, tables, optionsFor(op));
    return declareForwardLaunch(op, lowering,
                                {kernel.func, kernel.blocksPerRow, kernel.threads,
                                 kernel.sharedBytes, kVectorCopyAlign,
                                 operandArguments(op, /*stepByValue=*/true), kernel.config},
                                "mma", generic);
  }
};

/// The kernel argument of a TMA descriptor of the tensor in `slot`, boxes
/// as `type` says (the kernel takes the descriptor's device address).
KernelArgument tmaArgument(int slot, nvgpu::TensorMapDescriptorType type) {
  ArrayRef<int64_t> box = type.getTensor().getShape();
  return tensorMapArgument(slot, box[box.size() - 2], box[box.size() - 1]);
}

/// The wgmma body, specialized or (`generic`) reading its mask at launch.
struct WgmmaForward : BodyPattern<BlockSparseAttentionOp> {
  WgmmaForward(MLIRContext *ctx, GpuLowering &lowering, bool generic, PatternBenefit benefit)
      : BodyPattern(ctx, lowering, generic ? "wgmma (generic)" : "wgmma", benefit),
        generic(generic) {}
  bool generic;

  /// The query tile when the caller leaves it open. 128-row tiles are the
  /// faster body, but when the mask leaves so few active rows that their
  /// blocks fill at most half the SMs (a sparse mask on a short sequence,
  /// few heads), 64-row tiles double the blocks and finish sooner: measured
  /// on an H100 (docs/perf-notes.md, v3), 64 active 128-row blocks took
  /// 0.032 ms as 128-row tiles and 0.025 ms as 64-row tiles, while at 128
  /// blocks the two tie and at 512 the 128-row tiles win by 25%. So this
  /// choice depends on the mask (its active rows) and the target's SMs.
  int64_t defaultQueryTile(BlockSparseAttentionOp op) const {
    if (op.getBlockQ() % 128 != 0)
      return 64;
    int64_t blocks =
        op.getNumActiveRows() * (op.getBlockQ() / 128) * op.getQuery().getType().getDimSize(0);
    return blocks <= lowering.target.multiprocessors / 2 ? 64 : 128;
  }
  /// The key tile when the caller leaves it open: 128 keys where the
  /// blocks allow up to 128 columns; above, 64, as two stages of 128-key K
  /// and V tiles no longer fit beside Q (at D = 192 and 128-row Q tiles:
  /// 48 + 4 x 48 KiB) and a 64 x 128 score tile (64 registers) beside a
  /// 64 x D accumulator (D/2) would crowd the consumers' 232 registers.
  /// FlashAttention-3 makes the same cut (128 x 112 at D = 192, 128 x 80 at
  /// 256, on one tile size per head dim; ours must divide block_k).
  int64_t defaultKeyTile(BlockSparseAttentionOp op) const {
    const int64_t headDim = op.getQuery().getType().getDimSize(3);
    return op.getBlockK() % 128 == 0 && headDim <= 128 ? 128 : 64;
  }
  WgmmaKernelOptions optionsFor(BlockSparseAttentionOp op) const {
    return {lowering.queryTile > 0 ? lowering.queryTile : defaultQueryTile(op),
            lowering.keyTile > 0 ? lowering.keyTile : defaultKeyTile(op), lowering.stages,
            lowering.overlap};
  }
  std::string unsupportedReason(BlockSparseAttentionOp op) const override {
    if (std::string reason = calibrationReason(op, generic); !reason.empty())
      return reason;
    if (std::string reason = packingReason(op, generic); !reason.empty())
      return reason;
    if (std::string reason = generationReason(op, !generic); !reason.empty())
      return reason;
    if (std::string reason = batchLayoutReason(op, false); !reason.empty())
      return reason;
    WgmmaKernelOptions options = optionsFor(op);
    if (std::string reason = wgmmaKernelUnsupportedReason(op, options, lowering.target);
        !reason.empty())
      return reason;
    return forwardGridReason(op, op.getBlockQ() / options.queryTile, generic, lowering.target);
  }
  LogicalResult lower(BlockSparseAttentionOp op) const override {
    gpu::GPUModuleOp gpuModule = lowering.openModule(op.getLoc(), "sieve_kernels");
    RowTableGlobals tables = kernelTables(gpuModule, op, generic);
    WgmmaKernel kernel = buildWgmmaAttentionKernel(op, gpuModule, tables, optionsFor(op));
    // q, k and v also travel as TMA descriptors: a 4-d tensor map whose
    // box is one column slab of a tile (SlabLayout), which the runtime encodes
    // (cuTensorMapEncodeTiled) from the launch's tensors.
    SmallVector<KernelArgument> arguments = operandArguments(op, /*stepByValue=*/true);
    arguments.push_back(tmaArgument(runtime::kQuery, kernel.queryMap));
    arguments.push_back(tmaArgument(runtime::kKey, kernel.keyMap));
    arguments.push_back(tmaArgument(runtime::kValue, kernel.valueMap));
    return declareForwardLaunch(op, lowering,
                                {kernel.func, kernel.blocksPerRow, kernel.threads,
                                 kernel.sharedBytes, kVectorCopyAlign, arguments, kernel.config},
                                "wgmma", generic);
  }
};

//===----------------------------------------------------------------------===//
// Backward bodies
//===----------------------------------------------------------------------===//

/// The backward's three launches in place of the op: rows (delta and lse),
/// then dK/dV by columns, then dQ by rows, all on the op's operands and a
/// workspace of 2 x B x Hq x padded Sq floats that the runtime allocates
/// per call.
struct Backward : BodyPattern<BlockSparseAttentionBackwardOp> {
  Backward(MLIRContext *ctx, GpuLowering &lowering, bool hopper, PatternBenefit benefit)
      : BodyPattern(ctx, lowering, hopper ? "wgmma" : "mma", benefit), hopper(hopper) {}
  bool hopper;

  std::string unsupportedReason(BlockSparseAttentionBackwardOp op) const override {
    return hopper ? wgmmaBackwardUnsupportedReason(op, lowering.target)
                  : mmaBackwardUnsupportedReason(op, lowering.target);
  }
  LogicalResult lower(BlockSparseAttentionBackwardOp op) const override {
    gpu::GPUModuleOp gpuModule = lowering.openModule(op.getLoc(), "sieve_backward_kernels");
    BackwardKernels kernels = hopper ? buildWgmmaBackwardKernels(op, gpuModule)
                                     : buildMmaBackwardKernels(op, gpuModule, lowering.target);
    const BackwardProblem problem = backwardProblemOf(op);
    SmallVector<KernelArgument> operands = operandArguments(op);
    // The thresholds come last (BackwardCommon.h): the kernels' other
    // arguments keep the plain backward's positions.
    std::optional<KernelArgument> thresholds;
    if (op.getThresholds())
      thresholds = operands.pop_back_val();
    operands.push_back(workspaceArgument());
    for (auto [launch, role] : {std::pair<BackwardLaunch *, runtime::LaunchRole>{
                                    &kernels.rows, runtime::LaunchRole::BackwardRows},
                                {&kernels.keyValue, runtime::LaunchRole::BackwardKeyValue},
                                {&kernels.query, runtime::LaunchRole::BackwardQuery}}) {
      SmallVector<KernelArgument> arguments(operands);
      for (auto [operand, rows] : launch->tensorMaps)
        arguments.push_back(tmaArgument(operands[operand].slot,
                                        swizzledTensorMapType(op.getContext(), problem.elt, rows,
                                                              SlabLayout{launch->slabRowBytes})));
      if (thresholds)
        arguments.push_back(*thresholds);
      LaunchGeometry g;
      g.role = role;
      g.grid = {launch->gridX, problem.batch, 1};
      g.block = {launch->threads, 1, 1};
      g.sharedBytes = launch->sharedBytes;
      // delta and lse * log2(e) per padded query row.
      g.workspaceBytes = 2 * problem.scratchRows() * int64_t(sizeof(float));
      g.alignBytes = kVectorCopyAlign;
      if (failed(declareLaunch(launch->func, lowering.target, g, arguments, kernels.variant,
                               launch->config)))
        return failure();
    }
    return success();
  }
};

/// The patterns for `variant`: every body for `auto` (Hopper first, the
/// scalar body last), else that variant's alone.
void populateBodyPatterns(RewritePatternSet &patterns, GpuLowering &lowering, StringRef variant) {
  MLIRContext *ctx = patterns.getContext();
  const bool all = variant == "auto";
  if (all || variant == "wgmma") {
    patterns.add<WgmmaForward>(ctx, lowering, /*generic=*/false, PatternBenefit(3));
    patterns.add<Backward>(ctx, lowering, /*hopper=*/true, PatternBenefit(2));
  }
  if (all || variant == "mma") {
    patterns.add<MmaForward>(ctx, lowering, /*generic=*/false, PatternBenefit(2));
    patterns.add<Backward>(ctx, lowering, /*hopper=*/false, PatternBenefit(1));
  }
  if (all || variant == "simt")
    patterns.add<SimtForward>(ctx, lowering, "simt", PatternBenefit(1));
  if (variant == "generic") {
    patterns.add<WgmmaForward>(ctx, lowering, /*generic=*/true, PatternBenefit(2));
    patterns.add<MmaForward>(ctx, lowering, /*generic=*/true, PatternBenefit(1));
  }
}

/// Collects the reasons the patterns declined an op with.
struct DeclineReasons : RewriterBase::Listener {
  std::vector<std::string> reasons;
  void notifyMatchFailure(Location, function_ref<void(Diagnostic &)> reasonCallback) override {
    Diagnostic diag(UnknownLoc::get(loc.getContext()), DiagnosticSeverity::Remark);
    reasonCallback(diag);
    reasons.push_back(diag.str());
  }
  Location loc;
  explicit DeclineReasons(Location loc) : loc(loc) {}
};

/// Whether `auto` falling back to the scalar body on `op` is a cliff worth
/// a warning: a forward op of f16 or bf16 on a chip with tensor cores
/// (mma.sync: every chip sieve targets), which the scalar body runs many
/// times slower than a tensor-core body would (50-190x, measured on an
/// H200). f32 has no tensor-core body by design.
bool tensorCoresExpected(Operation *op, const runtime::TargetInfo &target) {
  auto forward = dyn_cast<BlockSparseAttentionOp>(op);
  if (!forward || !target.mmaSync)
    return false;
  Type elt = forward.getQuery().getType().getElementType();
  return elt.isF16() || elt.isBF16();
}

/// The warning of `auto` running an op on the scalar body where tensor
/// cores were expected: the body chosen and each tensor-core body's reason
/// (its decline string), fastest first.
std::string scalarFallbackWarning(ArrayRef<std::string> reasons) {
  return "the kernel runs on the scalar simt body, many times slower than a tensor-core body, "
         "since none runs it: " +
         llvm::join(reasons, ". ") +
         ". (variant=simt chooses the scalar body without this warning.)";
}

/// The checks that do not depend on a body: a generic kernel or split rows
/// with an lse, and a generic kernel with split rows.
LogicalResult checkSchedule(BlockSparseAttentionOp op, StringRef variant) {
  if (op.isGeneration() && variant == "generic")
    return op.emitOpError() << "generation (operand 'positions') picks its rows from constant "
                               "tables at launch: the specialized mma and wgmma bodies run it, "
                               "not variant=generic";
  if (op.getLse() && (variant == "generic" || op.hasSplitRows()))
    return op.emitOpError() << "operand 'lse' needs a specialized kernel with whole rows (not "
                               "variant=generic or split rows)";
  if (variant == "generic" && op.hasSplitRows())
    return op.emitOpError() << "variant=generic reads its mask at launch and cannot run split "
                               "rows (sieve-split-rows is for specialized kernels)";
  return success();
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
    auto target = targetOf(chip, sms, sharedBytes);
    if (!target) {
      module.emitError() << "sieve-lower-to-gpu: " << target.error().message();
      return signalPassFailure();
    }
    if (variant == "wgmma" && !target->hopperKernels()) {
      module.emitError() << "sieve-lower-to-gpu: variant=wgmma needs chip=sm_90a (wgmma, TMA and "
                            "setmaxnreg are sm_90a features), not '"
                         << chip << "'";
      return signalPassFailure();
    }
    GpuLowering lowering{module, *target, queryTile, keyTile, stages, chunkElements, overlap};
    RewritePatternSet patterns(&getContext());
    populateBodyPatterns(patterns, lowering, variant);
    FrozenRewritePatternSet frozen(std::move(patterns));
    PatternApplicator applicator(frozen);
    applicator.applyDefaultCostModel();

    // The backward ops first, then the forward ones, each in program order
    // (kernel modules are numbered in that order).
    SmallVector<Operation *> ops;
    module.walk([&](BlockSparseAttentionBackwardOp op) {
      if (variant != "auto" && variant != "mma" && variant != "wgmma") {
        op.emitOpError() << "the backward runs on the wgmma or mma kernels, not variant="
                         << variant;
        lowering.failed = true;
      }
      ops.push_back(op);
    });
    module.walk([&](BlockSparseAttentionOp op) {
      if (failed(checkSchedule(op, variant)))
        lowering.failed = true;
      ops.push_back(op);
    });
    if (lowering.failed)
      return signalPassFailure();
    for (Operation *op : ops) {
      DeclineReasons declined(op->getLoc());
      PatternRewriter rewriter(&getContext());
      rewriter.setListener(&declined);
      rewriter.setInsertionPoint(op);
      // Asked for explicitly, the scalar body is no surprise: only `auto`
      // warns of it.
      const bool warnOfScalar = variant == "auto" && tensorCoresExpected(op, lowering.target);
      const Location loc = op->getLoc();
      lowering.chosen.clear();
      if (succeeded(applicator.matchAndRewrite(op, rewriter))) {
        if (lowering.failed)
          return signalPassFailure();
        // No silent cliff: the compiler (compiler/lib/Compiler.cpp) keeps
        // this warning in the artifact, and the kernel cache reports it
        // through its warning handler.
        if (warnOfScalar && lowering.chosen == "simt")
          emitWarning(loc) << scalarFallbackWarning(declined.reasons);
        continue;
      }
      InFlightDiagnostic diag = op->emitOpError();
      // An explicit variant's one body: "variant=mma needs head dim ...".
      if (variant != "auto" && declined.reasons.size() == 1)
        diag << "variant=" << declined.reasons.front();
      else
        diag << "no GPU kernel body runs it (variant=" << variant
             << "): " << llvm::join(declined.reasons, "; ");
      return signalPassFailure();
    }
  }

  /// The pass's target: the chip's usual part, with the SM count and shared
  /// memory a compile for a live device passes in.
  static sieve::Expected<runtime::TargetInfo> targetOf(StringRef chip, int64_t sms,
                                                       int64_t sharedBytes) {
    auto target = runtime::TargetInfo::forChip(chip.str());
    if (!target)
      return target;
    if (sms > 0)
      target->multiprocessors = sms;
    if (sharedBytes > 0)
      target->sharedBytesPerBlock = sharedBytes;
    return target;
  }
};

} // namespace
