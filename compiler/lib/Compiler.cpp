//===- Compiler.cpp - KernelSpec -> MLIR -> Artifact ----------------------===//
#include "sieve/compiler/Compiler.h"
#include "sieve/compiler/HostCpu.h"

#include "sieve/dialect/SieveDialect.h"
#include "sieve/dialect/SieveOps.h"
#include "sieve/passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>

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
  // q, k, v, out, then the spec's extra operands in the op's order (the GPU
  // lowering names each kernel argument's launch slot from the op itself).
  SmallVector<Type> argTypes = {qType, kvType, kvType, qType};
  auto lseType = MemRefType::get({s.batch, s.headsQ, s.seqQ}, b.getF32Type()); // contiguous
  if (spec.backward)
    argTypes.append({qType, lseType, qType, kvType, kvType}); // dout, lse, dq, dk, dv
  if (spec.calibrate)                                         // f32 [Hq, QB, KB], contiguous
    argTypes.push_back(
        MemRefType::get({m.heads(), m.queryBlocks(), m.keyBlocks()}, b.getF32Type()));
  if (spec.thresholds) // f32 [Hq], contiguous
    argTypes.push_back(MemRefType::get({s.headsQ}, b.getF32Type()));
  if (spec.saveLse)
    argTypes.push_back(lseType);
  if (spec.generation) // i32 [2]: q_pos, seq_k_live
    argTypes.push_back(MemRefType::get({2}, b.getI32Type()));
  // A ragged batch's offsets, i32 [2, B + 1]; a paged one's page table,
  // i32 [B, ceil(Sk / page)] (docs/ragged-paged.md).
  const int64_t pagesPerSequence = spec.pageSize ? (s.seqK + spec.pageSize - 1) / spec.pageSize : 0;
  if (spec.ragged)
    argTypes.push_back(MemRefType::get({2, s.batch + 1}, b.getI32Type()));
  if (spec.pageSize)
    argTypes.push_back(MemRefType::get({s.batch, pagesPerSequence}, b.getI32Type()));
  auto func = func::FuncOp::create(b, loc, kEntry, b.getFunctionType(argTypes, {}));
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
  // Top-left is the attribute's absence: the IR (and PTX) of top-left
  // kernels is what it was before alignments existed.
  auto causalAlign = spec.causal && spec.causalAlign == runtime::CausalAlign::BottomRight
                         ? dialect::CausalAlignAttr::get(&ctx, dialect::CausalAlign::BottomRight)
                         : dialect::CausalAlignAttr();
  auto arg = [&](unsigned i) -> Value { return body->getArgument(i); };
  // The extra operands follow the tensors in argTypes' order.
  unsigned next = spec.backward ? 9 : 4;
  auto extra = [&](bool present) { return present ? arg(next++) : Value(); };
  Value stats = extra(spec.calibrate), thresholds = extra(spec.thresholds),
        lse = extra(spec.saveLse), positions = extra(spec.generation),
        sequences = extra(spec.ragged), pages = extra(spec.pageSize > 0);
  if (spec.backward) {
    dialect::AttentionBackwardOp::create(b, loc, arg(0), arg(1), arg(2), arg(3), arg(4), arg(5),
                                         arg(6), arg(7), arg(8), thresholds, maskAttr, scale,
                                         b.getI64IntegerAttr(m.blockQ()),
                                         b.getI64IntegerAttr(m.blockK()), causal, causalAlign);
  } else {
    dialect::AttentionOp::create(
        b, loc, arg(0), arg(1), arg(2), arg(3), stats, thresholds, lse, positions, sequences, pages,
        maskAttr, scale, b.getI64IntegerAttr(m.blockQ()), b.getI64IntegerAttr(m.blockK()), causal,
        causalAlign, spec.pageSize ? b.getI64IntegerAttr(spec.pageSize) : IntegerAttr());
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

/// Collects diagnostics so failures carry the compiler's own words, and
/// warnings (a compile that succeeds but runs slowly: the scalar body where
/// tensor cores were expected) go into the artifact apart from them.
struct DiagnosticCollector {
  explicit DiagnosticCollector(MLIRContext &ctx)
      : handler(&ctx, [this](Diagnostic &d) {
          if (d.getSeverity() == DiagnosticSeverity::Warning)
            warnings.push_back(d.str());
          else
            messages += d.str() + "\n";
          return success();
        }) {}
  std::string messages;
  std::vector<std::string> warnings;
  ScopedDiagnosticHandler handler;
};

/// The kernel configuration for a spec: explicit options win; zeros are
/// left for the GPU lowering, which knows each kernel's measured defaults
/// (docs/perf-notes.md) and records what it chose in the artifact.
KernelOptions chooseOptions(const KernelSpec &spec) {
  KernelOptions o = spec.options;
  if (o.stages == 0)
    o.stages = o.overlap ? 3 : 2; // the overlapped schedule holds two stages a step
  // Tiles larger than the mask's blocks are clamped to them.
  if (o.queryTile != 0)
    o.queryTile = std::min<int64_t>(o.queryTile, spec.mask.blockQ());
  if (o.keyTile != 0)
    o.keyTile = std::min<int64_t>(o.keyTile, spec.mask.blockK());
  return o;
}

/// The PTX pipeline's options for `spec` (pass options are not copyable,
/// so they are filled in place).
void setPtxOptions(const KernelSpec &spec, passes::PtxPipelineOptions &options) {
  KernelOptions chosen = chooseOptions(spec);
  options.variant = chosen.variant;
  options.queryTile = chosen.queryTile;
  options.keyTile = chosen.keyTile;
  options.stages = chosen.stages;
  options.overlap = chosen.overlap;
  options.splitKv = chosen.splitKv == "auto";
  options.splitWorkers = chosen.splitWorkers;
  options.packGqa = spec.packsGqa();
  options.chip = spec.target.chip;
  // The target's figures (a live device's own, or the chip's usual part's);
  // validate() resolved them.
  const runtime::TargetInfo target = *spec.target.info();
  options.sms = target.multiprocessors;
  options.sharedBytes = target.sharedBytesPerBlock;
  // PTX 8.0 is what sm_90a needs; sm_80 code gains nothing from newer.
  options.features = "+ptx80";
}

/// The CPU pipeline's options for `spec`.
void setCpuOptions(const KernelSpec &spec, passes::CpuPipelineOptions &options) {
  // Rows stay whole unless a split schedule is asked for (a GPU's, to
  // check it here: KernelOptions::splitWorkers).
  options.splitKv = spec.options.splitKv == "auto" && spec.options.splitWorkers > 0;
  options.workers = spec.options.splitWorkers;
  options.packGqa = spec.packsGqa();
  // Vectors as wide as the host's (HostCpu.h).
  options.vectorWidth = HostCpu::get().vectorWidth;
}

/// The whole pipeline of the spec's target (for a CUDA target, the kernels
/// and then their PTX).
void buildPipeline(PassManager &pm, const KernelSpec &spec) {
  if (spec.target.backend == Backend::Cuda) {
    passes::PtxPipelineOptions options;
    setPtxOptions(spec, options);
    passes::buildSieveToPtxPipeline(pm, options);
  } else {
    passes::CpuPipelineOptions options;
    setCpuOptions(spec, options);
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

/// The artifact's launches, from the contracts the lowering declared on its
/// kernels (#sieve.launch). GPU kernels go in the order of their roles: the
/// attention kernel and split-KV's combine, or the backward's rows,
/// key-value and query kernels; the CPU's host phases in the order the
/// lowering emitted them, which is the order they run. What the artifact
/// says of itself for people (variant, config) comes from the same kernels.
Error collectLaunches(ModuleOp module, Artifact &a) {
  MLIRContext *ctx = module.getContext();
  dialect::SieveDialect::LaunchAttrHelper launchOf(ctx);
  dialect::SieveDialect::VariantAttrHelper variantOf(ctx);
  dialect::SieveDialect::ConfigAttrHelper configOf(ctx);
  const bool gpu = a.backend == Backend::Cuda;
  SmallVector<FunctionOpInterface> kernels;
  module.walk([&](FunctionOpInterface f) {
    if (launchOf.isAttrPresent(f) && isa<gpu::GPUFuncOp>(f) == gpu)
      kernels.push_back(f);
  });
  if (gpu)
    llvm::stable_sort(kernels, [&](FunctionOpInterface x, FunctionOpInterface y) {
      return launchOf.getAttr(x).getRole() < launchOf.getAttr(y).getRole();
    });
  if (kernels.empty())
    return Error(ErrorCode::Internal, "the lowering declared no kernel launch");
  a.launches.clear();
  a.workspaceBytes = 0;
  a.alignBytes = 0;
  std::vector<std::string> configs;
  for (FunctionOpInterface f : kernels) {
    dialect::LaunchAttr launch = launchOf.getAttr(f);
    a.launches.push_back(launch.getLaunch(f.getName()));
    a.workspaceBytes = std::max<uint64_t>(a.workspaceBytes, launch.getWorkspaceBytes());
    a.alignBytes = std::max<uint32_t>(a.alignBytes, static_cast<uint32_t>(launch.getAlignBytes()));
    if (!variantOf.isAttrPresent(f) || !configOf.isAttrPresent(f))
      return Error(ErrorCode::Internal,
                   "kernel '" + f.getName().str() + "' does not say which body it runs");
    // A CPU kernel's phases share one configuration: say it once.
    if (launch.getRole() != static_cast<int32_t>(runtime::LaunchRole::Combine) &&
        (gpu || configs.empty()))
      configs.push_back(configOf.getAttr(f).str());
  }
  a.variant = variantOf.getAttr(kernels.front()).str();
  a.config = llvm::join(configs, "; ");
  // Every GPU kernel loads rows of the head dimension as vectors; the CPU's
  // take any strides.
  a.unitInnerStride = gpu;
  return Error::success();
}

/// The PTX of the module's one gpu.binary.
Error extractPtx(ModuleOp module, Artifact &a) {
  gpu::BinaryOp binary;
  int binaries = 0;
  module.walk([&](gpu::BinaryOp op) {
    binary = op;
    ++binaries;
  });
  if (binaries != 1 || binary.getObjects().size() != 1)
    return Error(ErrorCode::Internal, "GPU pipeline produced no single kernel binary");
  a.code = cast<gpu::ObjectAttr>(binary.getObjects()[0]).getObject().str();
  return Error::success();
}

/// CPU kernel libraries already lowered in this process, by their
/// functions' names (names are hashes of the functions' code, so equal
/// names are equal libraries): another kernel of the same tile
/// configuration skips lowering its library again. A bounded map: past
/// kMaxLibraries the oldest entries go.
class LoweredLibraries {
public:
  static LoweredLibraries &get() {
    static LoweredLibraries libraries;
    return libraries;
  }
  std::optional<std::string> find(const std::string &key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = texts_.find(key);
    if (it == texts_.end())
      return std::nullopt;
    return it->second;
  }
  void add(const std::string &key, std::string text) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!texts_.emplace(key, std::move(text)).second)
      return;
    order_.push_back(key);
    if (order_.size() > kMaxLibraries) {
      texts_.erase(order_.front());
      order_.pop_front();
    }
  }

private:
  static constexpr size_t kMaxLibraries = 64;
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> texts_;
  std::deque<std::string> order_;
};

/// The library functions of a module of host phases (before the LLVM
/// pipeline), and their names joined: the library's key.
std::pair<SmallVector<func::FuncOp>, std::string> libraryOf(ModuleOp module) {
  SmallVector<func::FuncOp> functions;
  std::string key;
  for (func::FuncOp fn : module.getOps<func::FuncOp>())
    if (fn->hasAttr(passes::kLibraryAttr)) {
      functions.push_back(fn);
      key += fn.getSymName().str() + ";";
    }
  return {functions, key};
}

/// A CPU module's code as the executor takes it: the library's functions
/// (passes/conversions/CpuPhases.h) in a module of their own above
/// Artifact::kCpuLibraryMarker, the tables below.
/// `library` is the library's text when it was lowered before (the module
/// has declarations only), else empty (the module has its definitions).
std::string splitLibrary(ModuleOp module, std::string library) {
  if (library.empty()) {
    OpBuilder b(module.getContext());
    OwningOpRef<ModuleOp> libraryModule = ModuleOp::create(module.getLoc());
    b.setInsertionPointToEnd(libraryModule->getBody());
    // Every function is the library's (its units' code, its phases' loops
    // and their C-interface wrappers: the host functions are gone); what
    // stays below is the tables.
    for (auto fn : llvm::make_early_inc_range(module.getOps<LLVM::LLVMFuncOp>())) {
      fn->removeAttr(passes::kLibraryAttr);
      fn->moveBefore(libraryModule->getBody(), libraryModule->getBody()->end());
    }
    library = printOp(*libraryModule);
  }
  return library + runtime::Artifact::kCpuLibraryMarker + printOp(module);
}

struct Prepared {
  std::unique_ptr<MLIRContext> ctx;
  OwningOpRef<ModuleOp> module;
  std::string inputText;
};

/// The input module of a checked spec. `inputOnly`: it is only printed,
/// never run through a pipeline.
Expected<Prepared> prepare(const KernelSpec &spec, bool inputOnly = false) {
  Prepared p;
  p.ctx = inputOnly ? makeInputContext() : makeContext();
  DiagnosticCollector diags(*p.ctx);
  p.module = buildModule(*p.ctx, spec);
  if (failed(verify(*p.module)))
    return Error(ErrorCode::Internal, "built IR does not verify: " + diags.messages);
  p.inputText = printOp(*p.module);
  return p;
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

} // namespace

Expected<CheckedSpec> CheckedSpec::of(const KernelSpec &spec) {
  if (Error e = spec.validate())
    return e;
  return CheckedSpec(spec);
}

Expected<std::string> buildAttentionIR(const KernelSpec &spec) {
  if (Error e = spec.validate())
    return e;
  auto p = prepare(spec, /*inputOnly=*/true);
  if (!p)
    return p.error();
  return p->inputText;
}

std::string specIdentity(CheckedSpec checked) {
  const KernelSpec &spec = *checked;
  const runtime::ProblemShape &s = spec.shape;
  const runtime::BlockMask &m = spec.mask;
  // A GPU kernel depends on the target's description and on the options
  // after defaults; a CPU kernel on the split options only.
  std::string target = spec.target.str(), options;
  if (spec.target.backend == Backend::Cuda) {
    target = spec.target.info()->str(); // validate() resolved it
    options = chooseOptions(spec).str();
  } else {
    // The host's vectors and the CPU the engine compiles for (HostCpu.h).
    const HostCpu &host = HostCpu::get();
    options = fmt::format("split-kv={} split-workers={} pack-gqa={} vector-width={} host {} {}",
                          spec.options.splitKv, spec.options.splitWorkers, spec.options.packGqa,
                          host.vectorWidth, host.name, host.features);
  }
  // The scale as the f32 the kernels take, in hexadecimal: exact.
  std::string id = fmt::format(
      "shape {} {} {} {} {} {} {}|target {}|{}|scale {:a}|causal={} causal_align={} calibrate={} "
      "thresholds={} save_lse={} backward={} generation={} ragged={} page_size={}|mask {}x{}x{} "
      "tiles {}x{}|",
      s.batch, s.headsQ, s.headsKv, s.seqQ, s.seqK, s.headDim, runtime::dtypeName(s.dtype), target,
      options, static_cast<float>(spec.effectiveScale()), spec.causal,
      runtime::causalAlignName(spec.causalAlign), spec.calibrate, spec.thresholds, spec.saveLse,
      spec.backward, spec.generation, spec.ragged, spec.pageSize, m.heads(), m.queryBlocks(),
      m.keyBlocks(), m.blockQ(), m.blockK());
  // The generic kernel is one artifact for every mask of its geometry.
  if (spec.options.variant != "generic") {
    const std::vector<uint8_t> &bits = m.packedBits();
    id.append(reinterpret_cast<const char *>(bits.data()), bits.size());
  }
  return id;
}

std::string cacheKeyOfIdentity(const std::string &identity) {
  return sha256Hex(fmt::format("{}\n{}\nartifact v{}\n", compilerVersion(), sourceFingerprint(),
                               Artifact::kVersion) +
                   identity);
}

std::string cacheKey(CheckedSpec spec) { return cacheKeyOfIdentity(specIdentity(spec)); }

Expected<std::string> cacheKey(const KernelSpec &spec) {
  auto checked = CheckedSpec::of(spec);
  if (!checked)
    return checked.error();
  return cacheKey(*checked);
}

Expected<Artifact> compile(const KernelSpec &spec) {
  auto checked = CheckedSpec::of(spec);
  if (!checked)
    return checked.error();
  return compile(*checked);
}

Expected<Artifact> compile(CheckedSpec checked) {
  const KernelSpec spec = buildSpecOf(*checked);
  auto p = prepare(spec);
  if (!p)
    return p.error();
  Artifact a;
  a.backend = spec.target.backend;
  a.chip = spec.target.chip;
  a.shape = spec.shape;
  a.causal = spec.causal;
  a.causalAlign = spec.causalAlign;
  a.calibrate = spec.calibrate;
  a.thresholds = spec.thresholds;
  a.savesLse = spec.saveLse;
  a.generation = spec.generation;
  a.ragged = spec.ragged;
  a.pageSize = spec.pageSize;
  a.backward = spec.backward;
  a.scale = spec.effectiveScale();
  a.keptTiles = spec.mask.countKept();
  a.totalTiles = spec.mask.numTiles();
  a.blockQ = spec.mask.blockQ();
  a.blockK = spec.mask.blockK();
  a.compilerVersion = compilerVersion();
  // The key cacheKey() gives: caches look artifacts up by it before compiling.
  a.cacheKey = cacheKey(checked);
  DiagnosticCollector diags(*p->ctx);
  auto failedPipeline = [&] {
    return Error(ErrorCode::Compile,
                 "pipeline for " + spec.target.str() + " failed:\n" + diags.messages);
  };
  if (spec.target.backend == Backend::Cuda) {
    // Two halves: the kernels, whose launch contracts are read before the
    // kernels become PTX, then the PTX.
    passes::PtxPipelineOptions options;
    setPtxOptions(spec, options);
    PassManager kernels(p->ctx.get());
    passes::buildSieveToGpuKernelsPipeline(kernels, options);
    if (failed(kernels.run(*p->module)))
      return failedPipeline();
    if (Error e = collectLaunches(*p->module, a))
      return e;
    a.warnings = diags.warnings;
    PassManager ptx(p->ctx.get());
    passes::buildGpuKernelsToPtxPipeline(ptx, options);
    if (failed(ptx.run(*p->module)))
      return failedPipeline();
    if (Error e = extractPtx(*p->module, a))
      return e;
  } else {
    // Two halves as for the GPU: the host phases, whose launch contracts
    // are read before they become the LLVM dialect, then the LLVM dialect.
    passes::CpuPipelineOptions options;
    setCpuOptions(spec, options);
    PassManager phases(p->ctx.get());
    passes::buildSieveToCpuPhasesPipeline(phases, options);
    if (failed(phases.run(*p->module)))
      return failedPipeline();
    if (Error e = collectLaunches(*p->module, a))
      return e;
    // The executor calls each phase's library function itself, with the
    // tables and values its host function passes (passes/conversions/
    // CpuPhases.h): the host functions, and the op's serial run in the
    // entry, are for sieve-opt and lit tests; the code keeps the library
    // and the tables.
    for (runtime::KernelLaunch &launch : a.launches) {
      auto host = p->module->lookupSymbol<func::FuncOp>(launch.entry);
      auto call = host ? host->getAttrOfType<DictionaryAttr>(passes::kHostCallAttr) : nullptr;
      if (!call)
        return Error(ErrorCode::Internal, "CPU phase '" + launch.entry +
                                              "' does not say which library function it calls");
      launch.entry = cast<FlatSymbolRefAttr>(call.get("callee")).getValue().str();
      for (Attribute table : cast<ArrayAttr>(call.get("tables")))
        launch.tables.push_back(cast<FlatSymbolRefAttr>(table).getValue().str());
      ArrayRef<int64_t> scalars = cast<DenseI64ArrayAttr>(call.get("scalars")).asArrayRef();
      launch.scalars.assign(scalars.begin(), scalars.end());
      host.erase();
    }
    if (auto entry = p->module->lookupSymbol<func::FuncOp>(kEntry))
      entry.erase();
    // A library lowered before (another mask or length of the same tile
    // configuration) is not lowered again: its text comes from the first
    // time, and what is left to lower is the tables.
    auto [functions, libraryKey] = libraryOf(*p->module);
    std::optional<std::string> library = LoweredLibraries::get().find(libraryKey);
    if (library)
      for (func::FuncOp fn : functions)
        fn.erase();
    PassManager llvm(p->ctx.get());
    passes::buildCpuPhasesToLlvmPipeline(llvm);
    if (failed(llvm.run(*p->module)))
      return failedPipeline();
    a.code = splitLibrary(*p->module, library.value_or(""));
    if (!library && !functions.empty())
      LoweredLibraries::get().add(
          libraryKey, a.code.substr(0, a.code.find(runtime::Artifact::kCpuLibraryMarker)));
    a.config = fmt::format("{} lanes on {}: {}", options.vectorWidth.getValue(),
                           HostCpu::get().name, a.config);
  }
  return a;
}

Expected<std::vector<std::pair<std::string, std::string>>> compileStages(const KernelSpec &spec) {
  if (Error e = spec.validate())
    return e;
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
