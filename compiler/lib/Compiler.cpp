//===- Compiler.cpp - KernelSpec -> MLIR -> Artifact ----------------------===//
#include "sieve/compiler/Compiler.h"

#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

namespace sieve::compiler {

using namespace mlir;
using runtime::Artifact;
using runtime::Backend;

#ifndef SIEVE_VERSION
#define SIEVE_VERSION "0.0.0"
#endif

std::string compilerVersion() {
  return fmt::format("sieve {} (MLIR {})", SIEVE_VERSION, LLVM_VERSION_STRING);
}

namespace {

constexpr const char *kEntry = "sieve_attention";
/// The host function's argument attribute naming which launch tensor
/// (runtime::ParamSlot::tensor) an argument is.
constexpr const char *kParamAttr = "sieve.param";

/// One context per compile: contexts are not shared across threads, and
/// per-compile contexts keep compiles independent. No thread pool: the
/// pipeline runs on one module and the caller may compile in parallel.
std::unique_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  passes::registerSieveCompilerDialects(registry);
  auto ctx = std::make_unique<MLIRContext>(registry, MLIRContext::Threading::DISABLED);
  ctx->loadAllAvailableDialects();
  return ctx;
}

/// Enough to build and print the input module (func and sieve ops, builtin
/// types): what a cache key needs. Loading every dialect the pipelines use
/// costs about as much as the rest of the key, and a disk hit pays for the
/// key.
std::unique_ptr<MLIRContext> makeInputContext() {
  DialectRegistry registry;
  registry.insert<dialect::SieveDialect, func::FuncDialect>();
  auto ctx = std::make_unique<MLIRContext>(registry, MLIRContext::Threading::DISABLED);
  ctx->loadAllAvailableDialects();
  return ctx;
}

Type elementType(MLIRContext &ctx, runtime::DType dtype) {
  Builder b(&ctx);
  switch (dtype) {
  case runtime::DType::F16:
    return b.getF16Type();
  case runtime::DType::BF16:
    return b.getBF16Type();
  case runtime::DType::F32:
    return b.getF32Type();
  }
  return {};
}

/// func @sieve_attention(q, k, v, out) { sieve.attention ... }. Sizes are
/// static (the mask is sized from them); strides and offsets are dynamic so
/// one kernel serves BSHD and BHSD views. GPU kernels fix the head
/// dimension's stride to 1: their loads are 16-byte vectors along it.
OwningOpRef<ModuleOp> buildModule(MLIRContext &ctx, const KernelSpec &spec) {
  const runtime::ProblemShape &s = spec.shape;
  OpBuilder b(&ctx);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  int64_t dyn = ShapedType::kDynamic;
  int64_t inner = spec.target.backend == Backend::Cuda ? 1 : dyn;
  auto layout = StridedLayoutAttr::get(&ctx, dyn, {dyn, dyn, dyn, inner});
  Type elt = elementType(ctx, s.dtype);
  auto qType = MemRefType::get({s.batch, s.headsQ, s.seqQ, s.headDim}, elt, layout);
  auto kvType = MemRefType::get({s.batch, s.headsKv, s.seqK, s.headDim}, elt, layout);
  b.setInsertionPointToEnd(module->getBody());
  const runtime::BlockMask &m = spec.mask;
  // Each argument says which launch tensor it is (runtime::ParamSlot), so
  // GPU launches can name their parameters whatever the argument order.
  SmallVector<std::pair<Type, int>> args = {{qType, 0}, {kvType, 1}, {kvType, 2}, {qType, 3}};
  auto lseType = MemRefType::get({s.batch, s.headsQ, s.seqQ}, b.getF32Type()); // contiguous
  if (spec.backward)
    args.append({{qType, runtime::ParamSlot::kDout},
                 {lseType, runtime::ParamSlot::kLse},
                 {qType, runtime::ParamSlot::kDq},
                 {kvType, runtime::ParamSlot::kDk},
                 {kvType, runtime::ParamSlot::kDv}});
  if (spec.calibrate) // f32 [Hq, QB, KB], contiguous
    args.push_back({MemRefType::get({m.heads(), m.queryBlocks(), m.keyBlocks()}, b.getF32Type()),
                    runtime::ParamSlot::kStats});
  if (spec.thresholds) // f32 [Hq], contiguous
    args.push_back({MemRefType::get({s.headsQ}, b.getF32Type()), runtime::ParamSlot::kThresholds});
  if (spec.saveLse)
    args.push_back({lseType, runtime::ParamSlot::kLse});
  SmallVector<Type> argTypes;
  for (auto &[type, slot] : args)
    argTypes.push_back(type);
  auto func = func::FuncOp::create(b, loc, kEntry, b.getFunctionType(argTypes, {}));
  for (auto [i, arg] : llvm::enumerate(args))
    func.setArgAttr(i, kParamAttr, b.getI32IntegerAttr(arg.second));
  // The CPU executor calls the C-interface wrapper (memref descriptors by pointer).
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *body = func.addEntryBlock();
  b.setInsertionPointToStart(body);
  const std::vector<uint8_t> &bits = m.packedBits();
  auto maskAttr = dialect::BlockMaskAttr::get(
      &ctx, m.heads(), m.queryBlocks(), m.keyBlocks(),
      StringRef(reinterpret_cast<const char *>(bits.data()), bits.size()));
  auto scale = b.getF32FloatAttr(static_cast<float>(spec.effectiveScale()));
  UnitAttr causal = spec.causal ? b.getUnitAttr() : UnitAttr();
  auto arg = [&](unsigned i) -> Value { return body->getArgument(i); };
  if (spec.backward) {
    dialect::AttentionBackwardOp::create(
        b, loc, arg(0), arg(1), arg(2), arg(3), arg(4), arg(5), arg(6), arg(7), arg(8), maskAttr,
        scale, b.getI64IntegerAttr(m.blockQ()), b.getI64IntegerAttr(m.blockK()), causal);
  } else {
    Value extra = body->getNumArguments() > 4 ? arg(4) : Value();
    dialect::AttentionOp::create(
        b, loc, arg(0), arg(1), arg(2), arg(3), spec.calibrate ? extra : Value(),
        spec.thresholds ? extra : Value(), spec.saveLse ? extra : Value(), maskAttr, scale,
        b.getI64IntegerAttr(m.blockQ()), b.getI64IntegerAttr(m.blockK()), causal);
  }
  func::ReturnOp::create(b, loc);
  return module;
}

std::string printOp(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->print(os);
  return text;
}

/// Collects diagnostics so failures carry the compiler's own words.
struct DiagnosticCollector {
  explicit DiagnosticCollector(MLIRContext &ctx)
      : handler(&ctx, [this](Diagnostic &d) {
          messages += d.str() + "\n";
          return success();
        }) {}
  std::string messages;
  ScopedDiagnosticHandler handler;
};

/// The kernel configuration for a spec: explicit options win; zeros are
/// left for the GPU lowering, which knows each kernel's measured defaults
/// (docs/perf-notes.md) and records what it chose in the artifact.
KernelOptions chooseOptions(const KernelSpec &spec) {
  KernelOptions o = spec.options;
  if (o.stages == 0)
    o.stages = 2;
  // Tiles larger than the mask's blocks are clamped to them.
  if (o.queryTile != 0)
    o.queryTile = std::min<int64_t>(o.queryTile, spec.mask.blockQ());
  if (o.keyTile != 0)
    o.keyTile = std::min<int64_t>(o.keyTile, spec.mask.blockK());
  return o;
}

void buildPipeline(PassManager &pm, const KernelSpec &spec) {
  const Target &target = spec.target;
  if (target.backend == Backend::Cuda) {
    KernelOptions chosen = chooseOptions(spec);
    passes::PtxPipelineOptions options;
    options.variant = chosen.variant;
    options.queryTile = chosen.queryTile;
    options.keyTile = chosen.keyTile;
    options.stages = chosen.stages;
    options.splitKv = chosen.splitKv == "auto";
    if (chosen.splitWorkers > 0)
      options.sms = chosen.splitWorkers;
    options.chip = target.chip;
    // PTX 8.0 is what sm_90a needs; sm_80 code gains nothing from newer.
    options.features = "+ptx80";
    passes::buildSieveToPtxPipeline(pm, options);
  } else {
    // Rows stay whole unless a split schedule is asked for (a GPU's, to
    // check it here: KernelOptions::splitWorkers).
    passes::CpuPipelineOptions options;
    options.splitKv = spec.options.splitKv == "auto" && spec.options.splitWorkers > 0;
    options.workers = spec.options.splitWorkers;
    passes::buildSieveToCpuPipeline(pm, options);
  }
}

std::string sha256Hex(const std::string &text) {
  llvm::SHA256 hasher;
  hasher.update(text);
  auto digest = hasher.final();
  std::string hex;
  for (uint8_t byte : digest)
    hex += fmt::format("{:02x}", byte);
  return hex;
}

int64_t constantOf(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  return -1;
}

/// The tensor slot (ParamSlot) of host function argument `v`: its
/// `sieve.param` attribute, else its position among q, k, v, out.
std::optional<int> tensorIndex(Value v) {
  if (auto cast = v.getDefiningOp<memref::CastOp>())
    v = cast.getSource();
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || !isa<MemRefType>(arg.getType()))
    return std::nullopt;
  auto fn = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  if (auto slot =
          fn ? fn.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), kParamAttr) : IntegerAttr())
    return static_cast<int>(slot.getInt());
  if (arg.getArgNumber() > 3)
    return std::nullopt;
  return static_cast<int>(arg.getArgNumber());
}

/// The kernel's parameters, read off the launch's operands: a memref
/// becomes its descriptor's scalars, a TMA descriptor made on the host
/// becomes one tensor-map slot the runtime encodes.
Expected<std::vector<runtime::ParamSlot>> launchParams(gpu::LaunchFuncOp launch) {
  std::vector<runtime::ParamSlot> slots;
  for (Value operand : launch.getKernelOperands()) {
    // Descriptors reach the kernel as pointers (see WgmmaAttentionKernel).
    if (auto cast = operand.getDefiningOp<UnrealizedConversionCastOp>();
        cast && cast.getNumOperands() == 1)
      operand = cast.getOperand(0);
    if (auto desc = operand.getDefiningOp<nvgpu::TmaCreateDescriptorOp>()) {
      std::optional<int> t = tensorIndex(desc.getTensor());
      ArrayRef<int64_t> box = desc.getTensorMap().getType().getTensor().getShape();
      if (!t || box.size() != 4 || !(*t <= 3 || *t == runtime::ParamSlot::kDout))
        return Error(ErrorCode::Internal,
                     "TMA descriptor of something other than q, k, v, out or dout");
      runtime::ParamSlot slot{*t, runtime::ParamField::TensorMap, 0};
      slot.boxRows = box[2];
      slot.boxCols = box[3];
      slots.push_back(slot);
      continue;
    }
    if (auto cast = operand.getDefiningOp<memref::CastOp>()) {
      if (auto table = cast.getSource().getDefiningOp<memref::AllocaOp>()) {
        // Split-KV's workspace: a rank-1 f32 buffer the runtime allocates.
        if (table->hasAttr("sieve.workspace")) {
          for (auto field : {runtime::ParamField::AllocatedPtr, runtime::ParamField::AlignedPtr,
                             runtime::ParamField::Offset, runtime::ParamField::Size,
                             runtime::ParamField::Stride})
            slots.push_back({runtime::ParamSlot::kWorkspace, field, 0});
          continue;
        }
        auto index = table->getAttrOfType<IntegerAttr>("sieve.launch_table");
        if (!index || index.getInt() < 0 || index.getInt() > 3)
          return Error(ErrorCode::Internal, "GPU launch operand is an unmarked buffer");
        // A rank-1 memref descriptor: pointers, offset, one size, one stride.
        const int t = runtime::ParamSlot::kFirstTable + static_cast<int>(index.getInt());
        for (auto field :
             {runtime::ParamField::AllocatedPtr, runtime::ParamField::AlignedPtr,
              runtime::ParamField::Offset, runtime::ParamField::Size, runtime::ParamField::Stride})
          slots.push_back({t, field, 0});
        continue;
      }
    }
    // A host function argument: its descriptor's scalars, for the tensor
    // its attribute names (q, k, v, out, stats, thresholds, lse, dout, ...).
    auto arg = dyn_cast<BlockArgument>(operand);
    auto fn = arg ? dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()) : func::FuncOp();
    auto slotAttr =
        fn ? fn.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), kParamAttr) : IntegerAttr();
    if (!slotAttr)
      return Error(ErrorCode::Internal,
                   "GPU launch operand is neither a tensor nor a TMA descriptor");
    const int t = static_cast<int>(slotAttr.getInt());
    const int rank = static_cast<int>(cast<MemRefType>(arg.getType()).getRank());
    for (auto field : {runtime::ParamField::AllocatedPtr, runtime::ParamField::AlignedPtr,
                       runtime::ParamField::Offset})
      slots.push_back({t, field, 0});
    for (auto field : {runtime::ParamField::Size, runtime::ParamField::Stride})
      for (int d = 0; d < rank; ++d)
        slots.push_back({t, field, d});
  }
  return slots;
}

/// A launch's constant grid and block sizes.
Error launchGeometry(gpu::LaunchFuncOp launch, std::array<uint32_t, 3> &grid,
                     std::array<uint32_t, 3> &block) {
  int64_t dims[6] = {constantOf(launch.getGridSizeX()),  constantOf(launch.getGridSizeY()),
                     constantOf(launch.getGridSizeZ()),  constantOf(launch.getBlockSizeX()),
                     constantOf(launch.getBlockSizeY()), constantOf(launch.getBlockSizeZ())};
  for (int64_t d : dims)
    if (d <= 0)
      return Error(ErrorCode::Internal, "GPU launch geometry is not constant");
  grid = {uint32_t(dims[0]), uint32_t(dims[1]), uint32_t(dims[2])};
  block = {uint32_t(dims[3]), uint32_t(dims[4]), uint32_t(dims[5])};
  return Error::success();
}

/// Split-KV's combine launch (marked `sieve.combine`), if the op had split rows.
Error extractCombine(gpu::LaunchFuncOp combine, Artifact &a) {
  if (!combine)
    return Error::success();
  a.combine.entry = combine.getKernelName().str();
  if (Error e = launchGeometry(combine, a.combine.grid, a.combine.block))
    return e;
  auto params = launchParams(combine);
  if (!params)
    return params.error();
  a.combine.params = std::move(*params);
  for (Value operand : combine.getKernelOperands())
    if (auto cast = operand.getDefiningOp<memref::CastOp>())
      if (auto alloca = cast.getSource().getDefiningOp<memref::AllocaOp>();
          alloca && alloca->hasAttr("sieve.workspace"))
        a.combine.workspaceBytes = static_cast<uint64_t>(alloca.getType().getNumElements()) * 4;
  if (a.combine.workspaceBytes == 0)
    return Error(ErrorCode::Internal, "combine launch has no workspace");
  return Error::success();
}

/// The backward's launches (marked `sieve.backward`): rows as the main
/// kernel, then key_value and query as follow-ups, and the scratch size.
Error extractBackward(ModuleOp module, Artifact &a, gpu::LaunchFuncOp &rows) {
  gpu::LaunchFuncOp keyValue, query;
  module.walk([&](gpu::LaunchFuncOp op) {
    StringRef stage = op->getAttrOfType<StringAttr>("sieve.backward").getValue();
    (stage == "rows" ? rows : stage == "key_value" ? keyValue : query) = op;
  });
  if (!rows || !keyValue || !query)
    return Error(ErrorCode::Internal, "GPU backward pipeline did not produce its three launches");
  for (gpu::LaunchFuncOp l : {keyValue, query}) {
    runtime::KernelLaunch follow;
    follow.entry = l.getKernelName().str();
    if (Error e = launchGeometry(l, follow.grid, follow.block))
      return e;
    if (Value shared = l.getDynamicSharedMemorySize())
      if (auto c = shared.getDefiningOp<arith::ConstantIntOp>())
        follow.sharedBytes = static_cast<uint32_t>(c.value());
    auto params = launchParams(l);
    if (!params)
      return params.error();
    follow.params = std::move(*params);
    a.followUps.push_back(std::move(follow));
    a.config += std::string(a.config.empty() ? "" : "; ") +
                l->getAttrOfType<StringAttr>("sieve.config").str();
  }
  for (Value operand : rows.getKernelOperands())
    if (auto cast = operand.getDefiningOp<memref::CastOp>())
      if (auto alloca = cast.getSource().getDefiningOp<memref::AllocaOp>();
          alloca && alloca->hasAttr("sieve.workspace"))
        a.scratchBytes = static_cast<uint64_t>(alloca.getType().getNumElements()) * 4;
  return Error::success();
}

Error extractGpuArtifact(ModuleOp module, Artifact &a) {
  gpu::LaunchFuncOp launch, combine;
  int launches = 0;
  if (a.backward) {
    if (Error e = extractBackward(module, a, launch))
      return e;
    launches = 1; // the follow-ups are accounted for
  } else {
    module.walk([&](gpu::LaunchFuncOp op) {
      ++launches;
      (op->hasAttr("sieve.combine") ? combine : launch) = op;
    });
  }
  gpu::BinaryOp binary;
  module.walk([&](gpu::BinaryOp op) { binary = op; });
  if (!launch || !binary || binary.getObjects().size() != 1 || launches != (combine ? 2 : 1))
    return Error(ErrorCode::Internal, "GPU pipeline produced no single kernel binary and launch");
  auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
  a.code = object.getObject().str();
  a.entry = launch.getKernelName().str();
  if (Error e = launchGeometry(launch, a.grid, a.block))
    return e;
  if (Error e = extractCombine(combine, a))
    return e;
  a.sharedBytes = 0;
  if (Value shared = launch.getDynamicSharedMemorySize()) {
    auto c = shared.getDefiningOp<arith::ConstantIntOp>();
    if (!c)
      return Error(ErrorCode::Internal, "GPU launch shared memory size is not constant");
    a.sharedBytes = static_cast<uint32_t>(c.value());
  }
  auto variant = launch->getAttrOfType<StringAttr>("sieve.variant");
  auto config = launch->getAttrOfType<StringAttr>("sieve.config");
  if (!variant || !config)
    return Error(ErrorCode::Internal, "GPU launch does not say which kernel variant it runs");
  a.variant = variant.str();
  a.config = a.backward ? config.str() + "; " + a.config : config.str();
  a.unitInnerStride = true;
  // cp.async and TMA move 16 bytes at a time.
  a.alignBytes = a.variant == "mma" || a.variant == "wgmma" || a.variant == "generic" ? 16 : 0;
  auto params = launchParams(launch);
  if (!params)
    return params.error();
  a.params = std::move(*params);
  return Error::success();
}

struct Prepared {
  std::unique_ptr<MLIRContext> ctx;
  OwningOpRef<ModuleOp> module;
  std::string inputText;
};

/// `inputOnly`: the module is only printed, never run through a pipeline.
Expected<Prepared> prepare(const KernelSpec &spec, bool inputOnly = false) {
  if (Error e = spec.validate())
    return e;
  Prepared p;
  p.ctx = inputOnly ? makeInputContext() : makeContext();
  DiagnosticCollector diags(*p.ctx);
  p.module = buildModule(*p.ctx, spec);
  if (failed(verify(*p.module)))
    return Error(ErrorCode::Internal, "built IR does not verify: " + diags.messages);
  p.inputText = printOp(*p.module);
  return p;
}

} // namespace

Expected<std::string> buildAttentionIR(const KernelSpec &spec) {
  auto p = prepare(spec, /*inputOnly=*/true);
  if (!p)
    return p.error();
  return p->inputText;
}

// The key covers everything the output depends on: the compiler (version
// and sources), the artifact format, the target, the kernel options and the
// input IR (shapes, dtype, scale, causal and mask bits).
static std::string keyOf(const KernelSpec &spec, const std::string &inputText) {
  // CPU kernels depend on the split options only (KernelOptions::splitWorkers).
  std::string options = spec.target.backend == Backend::Cuda
                            ? chooseOptions(spec).str()
                            : fmt::format("split-kv={} split-workers={}", spec.options.splitKv,
                                          spec.options.splitWorkers);
  return sha256Hex(fmt::format("{}\n{}\nartifact v{}\n{}\n{}\n{}", compilerVersion(),
                               sourceFingerprint(), Artifact::kVersion, spec.target.str(), options,
                               inputText));
}

/// The spec a kernel is built from: the generic kernel reads its mask at
/// launch, so it is built (and keyed) for a canonical all-kept mask of the
/// same geometry, and one artifact serves every mask of that shape.
KernelSpec buildSpecOf(const KernelSpec &requested) {
  if (requested.options.variant != "generic")
    return requested;
  KernelSpec spec = requested;
  for (int64_t h = 0; h < spec.mask.heads(); ++h)
    spec.mask.setHead(h, true);
  return spec;
}

Expected<std::string> cacheKey(const KernelSpec &requested) {
  const KernelSpec spec = buildSpecOf(requested);
  auto p = prepare(spec, /*inputOnly=*/true);
  if (!p)
    return p.error();
  return keyOf(spec, p->inputText);
}

Expected<Artifact> compile(const KernelSpec &requested) {
  const KernelSpec spec = buildSpecOf(requested);
  auto p = prepare(spec);
  if (!p)
    return p.error();
  Artifact a;
  a.backend = spec.target.backend;
  a.chip = spec.target.chip;
  a.shape = spec.shape;
  a.causal = spec.causal;
  a.calibrate = spec.calibrate;
  a.thresholds = spec.thresholds;
  a.savesLse = spec.saveLse;
  a.backward = spec.backward;
  a.scale = spec.effectiveScale();
  a.keptTiles = spec.mask.countKept();
  a.totalTiles = spec.mask.numTiles();
  a.blockQ = spec.mask.blockQ();
  a.blockK = spec.mask.blockK();
  a.compilerVersion = compilerVersion();
  // The key cacheKey() gives, by construction: caches look artifacts up by
  // it before compiling, in a context with fewer dialects loaded.
  auto key = cacheKey(spec);
  if (!key)
    return key.error();
  a.cacheKey = std::move(*key);
  a.params = runtime::memrefDescriptorParams(); // the CPU ABI; GPU launches say their own

  DiagnosticCollector diags(*p->ctx);
  PassManager pm(p->ctx.get());
  buildPipeline(pm, spec);
  if (failed(pm.run(*p->module)))
    return Error(ErrorCode::Compile,
                 "pipeline for " + spec.target.str() + " failed:\n" + diags.messages);
  if (spec.target.backend == Backend::Cuda) {
    if (Error e = extractGpuArtifact(*p->module, a))
      return e;
  } else {
    a.entry = kEntry;
    a.code = printOp(*p->module);
    a.variant = "loops";
    a.config = "host loops, online softmax per query row";
  }
  return a;
}

Expected<std::vector<std::pair<std::string, std::string>>> compileStages(const KernelSpec &spec) {
  auto p = prepare(spec);
  if (!p)
    return p.error();
  std::vector<std::pair<std::string, std::string>> stages;
  stages.emplace_back("input", p->inputText);
  DiagnosticCollector diags(*p->ctx);
  PassManager pm(p->ctx.get());
  buildPipeline(pm, spec);
  // Run the pipeline pass by pass at module scope so each stage is whole.
  std::string dump;
  llvm::raw_string_ostream os(dump);
  pm.enableIRPrinting([](Pass *, Operation *) { return false; },
                      [](Pass *, Operation *) { return true; },
                      /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
                      /*printAfterOnlyOnFailure=*/false, os);
  if (failed(pm.run(*p->module)))
    return Error(ErrorCode::Compile,
                 "pipeline for " + spec.target.str() + " failed:\n" + diags.messages);
  // Split the printer's "// -----// IR Dump After X //----- //" sections.
  const std::string marker = "// -----// IR Dump After ";
  size_t pos = dump.find(marker);
  while (pos != std::string::npos) {
    size_t nameEnd = dump.find(" //----- //", pos);
    size_t next = dump.find(marker, pos + marker.size());
    std::string name = dump.substr(pos + marker.size(), nameEnd - pos - marker.size());
    size_t bodyStart = dump.find('\n', nameEnd) + 1;
    stages.emplace_back(
        name, dump.substr(bodyStart, (next == std::string::npos ? dump.size() : next) - bodyStart));
    pos = next;
  }
  return stages;
}

} // namespace sieve::compiler
