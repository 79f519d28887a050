//===- CpuExecutor.cpp ----------------------------------------------------===//
#include "sieve/runtime/CpuExecutor.h"
#include "sieve/runtime/CpuThreadPool.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>
#include <map>

namespace sieve::runtime {

/// A compiled kernel library.
struct CpuLibrary {
  std::unique_ptr<mlir::MLIRContext> context; // outlives the engine
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

class CpuKernel {
public:
  Artifact artifact;
  /// The library its phases are (shared with other kernels), kept alive as
  /// long as they are.
  std::shared_ptr<const CpuLibrary> library;
  /// The kernel's i32 tables by name (its row tables, ...).
  std::map<std::string, std::vector<int32_t>> tables;
  /// Each launch: the library function (packed arguments, looked up once)
  /// and what it takes after the buffers: tables, then index values.
  struct Phase {
    void (*fn)(void **) = nullptr;
    std::vector<StridedMemRefType<int32_t, 1>> tables;
    std::vector<int64_t> scalars;
  };
  std::vector<Phase> phases;
};

CpuExecutor::CpuExecutor() = default;
CpuExecutor::~CpuExecutor() = default;

void CpuExecutor::setThreads(int threads) {
  std::lock_guard<std::mutex> lock(poolMutex_);
  pool_ = threads > 0 ? std::make_shared<CpuThreadPool>(threads) : nullptr;
}

std::shared_ptr<CpuThreadPool> CpuExecutor::pool() const {
  std::lock_guard<std::mutex> lock(poolMutex_);
  return pool_ ? pool_ : CpuThreadPool::shared();
}

int CpuExecutor::threads() const { return pool()->threads(); }

namespace {

void initializeNativeTarget() {
  static bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)done;
}

/// LLVM-dialect text as a module of its own context.
Expected<mlir::OwningOpRef<mlir::ModuleOp>> parseCode(std::string_view code,
                                                      std::unique_ptr<mlir::MLIRContext> &context) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::LLVM::LLVMDialect>();
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  context = std::make_unique<mlir::MLIRContext>(registry);
  context->loadAllAvailableDialects();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(context.get(), [&](mlir::Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return mlir::success();
  });
  auto module = mlir::parseSourceString<mlir::ModuleOp>(llvm::StringRef(code.data(), code.size()),
                                                        context.get());
  if (!module)
    return Error(ErrorCode::CorruptArtifact, "CPU artifact code does not parse: " + diagnostics);
  return module;
}

/// The execution engine of `module`, compiled for this machine's CPU and
/// features (the engine's default target machine is the host's).
Expected<std::unique_ptr<mlir::ExecutionEngine>> createEngine(mlir::ModuleOp module) {
  mlir::ExecutionEngineOptions options;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = mlir::ExecutionEngine::create(module, options);
  if (!engine)
    return Error(ErrorCode::Compile,
                 "JIT compilation failed: " + llvm::toString(engine.takeError()));
  return std::move(*engine);
}

/// Compiles a kernel library.
Expected<std::shared_ptr<const CpuLibrary>> jitLibrary(const std::string &code) {
  auto library = std::make_shared<CpuLibrary>();
  auto module = parseCode(code, library->context);
  if (!module)
    return module.error();
  auto engine = createEngine(**module);
  if (!engine)
    return engine.error();
  library->engine = std::move(*engine);
  return std::shared_ptr<const CpuLibrary>(std::move(library));
}

/// The process's compiled kernel libraries by their code: kernels of one
/// tile configuration share one, whatever their masks, sequence lengths or
/// sessions. Never destroyed, on purpose: an ExecutionEngine's destructor
/// runs the JIT's deinitializers, which compile a module of their own, and
/// at process exit that runs after LLVM's own static state is gone (seen as
/// LLVM errors printed at exit, and once as a process that spun for minutes
/// in codegen after main returned). The libraries live as long as the
/// process does, as a loaded shared object would.
class LibraryCache {
public:
  static LibraryCache &get() {
    static LibraryCache *cache = new LibraryCache(); // intentionally leaked, see above
    return *cache;
  }

  /// The library compiled from `code`, JIT-compiled on first use.
  Expected<std::shared_ptr<const CpuLibrary>> find(std::string code) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = libraries_.find(code);
    if (found != libraries_.end())
      return found->second;
    auto library = jitLibrary(code);
    if (!library)
      return library.error();
    libraries_.emplace(std::move(code), *library);
    return *library;
  }

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const CpuLibrary>> libraries_;
};

/// A contiguous f32 [B, Hq, Sq] buffer (the log-sum-exp) as a descriptor.
StridedMemRefType<float, 3> lseDescriptor(const ProblemShape &shape, const float *lse) {
  StridedMemRefType<float, 3> d;
  d.basePtr = d.data = const_cast<float *>(lse);
  d.offset = 0;
  d.sizes[0] = shape.batch;
  d.sizes[1] = shape.headsQ;
  d.sizes[2] = shape.seqQ;
  d.strides[0] = shape.headsQ * shape.seqQ;
  d.strides[1] = shape.seqQ;
  d.strides[2] = 1;
  return d;
}

/// The per-head thresholds, contiguous f32 [Hq], as a descriptor (the
/// kernel reads them, never writes).
StridedMemRefType<float, 1> thresholdsDescriptor(const ProblemShape &shape,
                                                 const float *thresholds) {
  StridedMemRefType<float, 1> d;
  d.basePtr = d.data = const_cast<float *>(thresholds);
  d.offset = 0;
  d.sizes[0] = shape.headsQ;
  d.strides[0] = 1;
  return d;
}

/// Below this many multiply-adds a call runs on the caller's thread alone:
/// waking the pool costs more than the work (tens of microseconds).
constexpr double kParallelFlops = 4e6;

/// The two products' multiply-adds on the kept tiles (the backward's five
/// counted as 2.5 forwards), to decide whether threads pay.
double keptFlops(const Artifact &a) {
  double forward = 4.0 * a.shape.batch * a.keptTiles * a.blockQ * a.blockK * a.shape.headDim;
  return a.backward ? 2.5 * forward : forward;
}

/// The calling thread's f32 workspace, 64-byte aligned, kept from run to
/// run (grown when a kernel needs more): a fresh allocation per run would
/// be fresh pages, and faulting in tens of megabytes of them costs more
/// than packing the tiles into them. Runs on other threads have their own.
class Workspace {
public:
  /// A descriptor of at least `bytes` bytes, or null without the memory.
  static StridedMemRefType<float, 1> *get(uint64_t bytes) {
    thread_local Workspace mine;
    const uint64_t floats = std::max<uint64_t>((bytes + sizeof(float) - 1) / sizeof(float), 1);
    if (floats > mine.floats_) {
      mine.data_.reset(
          static_cast<float *>(std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64)));
      mine.floats_ = mine.data_ ? floats : 0;
      if (!mine.data_)
        return nullptr;
    }
    mine.descriptor_.basePtr = mine.descriptor_.data = mine.data_.get();
    mine.descriptor_.offset = 0;
    mine.descriptor_.sizes[0] = static_cast<int64_t>(floats);
    mine.descriptor_.strides[0] = 1;
    return &mine.descriptor_;
  }

private:
  std::unique_ptr<float, void (*)(void *)> data_{nullptr, std::free};
  uint64_t floats_ = 0;
  StridedMemRefType<float, 1> descriptor_{};
};

} // namespace

Error CpuExecutor::invoke(const CpuKernel &kernel, const std::vector<void *> &buffers) const {
  // `buffers`: a pointer to each buffer's descriptor pointer (the C
  // interface's memref arguments), then the workspace's and each phase's
  // unit range are added per call.
  StridedMemRefType<float, 1> *workspaceArg = Workspace::get(kernel.artifact.workspaceBytes);
  if (!workspaceArg)
    return Error(ErrorCode::Unsupported, "CPU kernel: no memory for its " +
                                             std::to_string(kernel.artifact.workspaceBytes) +
                                             "-byte workspace");
  std::shared_ptr<CpuThreadPool> pool;
  if (keptFlops(kernel.artifact) >= kParallelFlops)
    pool = this->pool();
  for (size_t l = 0; l < kernel.phases.size(); ++l) {
    const CpuKernel::Phase &phase = kernel.phases[l];
    // The library function's arguments after the buffers and workspace: a
    // pointer to each table's descriptor, the index values.
    std::vector<const StridedMemRefType<int32_t, 1> *> tables;
    for (const auto &t : phase.tables)
      tables.push_back(&t);
    auto unit = [&](int64_t u) {
      int64_t begin = u, end = u + 1;
      llvm::SmallVector<void *, 24> args(buffers.begin(), buffers.end());
      args.push_back(&workspaceArg);
      for (const StridedMemRefType<int32_t, 1> *&t : tables)
        args.push_back(static_cast<void *>(&t));
      for (const int64_t &v : phase.scalars)
        args.push_back(const_cast<int64_t *>(&v));
      args.append({&begin, &end});
      phase.fn(args.data());
    };
    const int64_t units = kernel.artifact.launches[l].grid[0];
    if (pool)
      pool->parallelFor(units, unit);
    else
      for (int64_t u = 0; u < units; ++u)
        unit(u);
  }
  return Error::success();
}

namespace {

/// A rank-4 tensor as a memref descriptor: f16 and bf16 tensors too, whose
/// descriptors differ from f32's only in the pointer's element type.
StridedMemRefType<float, 4> descriptorOf(const TensorView &t) {
  StridedMemRefType<float, 4> d;
  d.basePtr = d.data = static_cast<float *>(t.data);
  d.offset = 0;
  for (int i = 0; i < 4; ++i) {
    d.sizes[i] = t.sizes[i];
    d.strides[i] = t.strides[i];
  }
  return d;
}

} // namespace

Expected<std::shared_ptr<CpuKernel>> CpuExecutor::load(const Artifact &artifact) {
  if (artifact.backend != Backend::Cpu)
    return Error(ErrorCode::InvalidArgument, "artifact was compiled for the CUDA backend");
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = kernels_.find(artifact.cacheKey);
  if (it != kernels_.end())
    return it->second;

  initializeNativeTarget();
  // The code is the kernel's library (its phases' code, the same for every
  // mask and sequence length of its tile configuration: JIT-compiled once
  // per process) and this kernel's tables, which are only read.
  std::string_view code = artifact.code;
  const size_t marker = code.find(Artifact::kCpuLibraryMarker);
  if (marker == std::string_view::npos)
    return Error(ErrorCode::CorruptArtifact, "CPU artifact code has no kernel library");
  std::string libraryCode(code.substr(0, marker));
  auto kernel = std::make_shared<CpuKernel>();
  auto library = LibraryCache::get().find(std::move(libraryCode));
  if (!library)
    return library.error();
  kernel->library = *library;
  std::unique_ptr<mlir::MLIRContext> context;
  auto tables = parseCode(
      code.substr(marker + std::string_view(Artifact::kCpuLibraryMarker).size()), context);
  if (!tables)
    return tables.error();
  for (auto global : (*tables)->getOps<mlir::LLVM::GlobalOp>()) {
    auto values = llvm::dyn_cast_or_null<mlir::DenseIntElementsAttr>(global.getValueOrNull());
    if (!values || !values.getElementType().isInteger(32))
      continue;
    std::vector<int32_t> &data = kernel->tables[global.getSymName().str()];
    for (const llvm::APInt &v : values.getValues<llvm::APInt>())
      data.push_back(static_cast<int32_t>(v.getSExtValue()));
  }
  for (const KernelLaunch &launch : artifact.launches) {
    CpuKernel::Phase phase;
    auto fn = kernel->library->engine->lookupPacked("_mlir_ciface_" + launch.entry);
    if (!fn)
      return Error(ErrorCode::CorruptArtifact, "CPU artifact's library has no function '" +
                                                   launch.entry +
                                                   "': " + llvm::toString(fn.takeError()));
    phase.fn = *fn;
    for (const std::string &name : launch.tables) {
      auto table = kernel->tables.find(name);
      if (table == kernel->tables.end())
        return Error(ErrorCode::CorruptArtifact,
                     "CPU artifact has no table '" + name + "' for " + launch.entry);
      StridedMemRefType<int32_t, 1> d;
      d.basePtr = d.data = table->second.data();
      d.offset = 0;
      d.sizes[0] = static_cast<int64_t>(table->second.size());
      d.strides[0] = 1;
      phase.tables.push_back(d);
    }
    phase.scalars = launch.scalars;
    kernel->phases.push_back(std::move(phase));
  }
  kernel->artifact = artifact;
  kernel->artifact.code.clear();
  kernels_.emplace(artifact.cacheKey, kernel);
  return kernel;
}

Error CpuExecutor::run(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                       const TensorView &v, const TensorView &out, float *stats,
                       const float *thresholds, float *lse) const {
  if (kernel.artifact.generation)
    return Error(ErrorCode::InvalidArgument,
                 "a generation kernel runs one step at a time: run it with generate() and the "
                 "step's q_pos");
  if (kernel.artifact.ragged || kernel.artifact.pageSize)
    return Error(ErrorCode::InvalidArgument,
                 "a ragged or paged kernel reads its batch's layout at launch: run it with "
                 "runBatch() and the cu_seqlens / page table");
  return runForward(kernel, q, k, v, out, stats, thresholds, lse, {});
}

Error CpuExecutor::runBatch(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                            const TensorView &v, const TensorView &out, const BatchLayout &layout,
                            const float *thresholds) const {
  Expected<BatchLaunch> launch =
      checkBatchLayout(kernel.artifact, layout, q, k, v, out, DeviceKind::Host);
  if (!launch)
    return launch.takeError();
  LaunchData data;
  data.sequences = launch->sequences.empty() ? nullptr : launch->sequences.data();
  data.pages = launch->pages;
  return runForward(kernel, q, k, v, out, nullptr, thresholds, nullptr, data);
}

Error CpuExecutor::generate(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                            const TensorView &v, const TensorView &out, const GenerationStep &step,
                            const float *thresholds) const {
  Expected<std::array<int32_t, 2>> positions = generationPositions(kernel.artifact, step);
  if (!positions)
    return positions.takeError();
  if (Error e = checkGenerationTensors(kernel.artifact, *positions, q, k, v, out, DeviceKind::Host))
    return e;
  LaunchData data;
  data.positions = positions->data();
  return runForward(kernel, q, k, v, out, nullptr, thresholds, nullptr, data);
}

Error CpuExecutor::runForward(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                              const TensorView &v, const TensorView &out, float *stats,
                              const float *thresholds, float *lse, const LaunchData &data) const {
  const Artifact &a = kernel.artifact;
  // (A ragged or paged launch's tensors were checked against its layout, a
  // generation step's against its live keys.)
  if (!a.ragged && !a.pageSize && !data.positions)
    if (Error e = checkAttentionTensors(a.shape, q, k, v, out, DeviceKind::Host))
      return e;
  if (a.backward)
    return Error(ErrorCode::InvalidArgument,
                 "a backward kernel computes gradients: run it with backward()");
  if (a.savesLse && !lse)
    return Error(ErrorCode::InvalidArgument,
                 "this forward saves its log-sum-exp: pass an f32 [B, Hq, Sq] lse buffer");
  if (!a.savesLse && lse)
    return Error(ErrorCode::InvalidArgument, "lse given to a kernel compiled without saveLse");
  if (a.calibrate && !stats)
    return Error(ErrorCode::InvalidArgument,
                 "a calibration kernel needs its stats buffer (f32 [Hq, QB, KB])");
  if (!a.calibrate && stats)
    return Error(ErrorCode::InvalidArgument, "stats given to a kernel compiled without calibrate");
  if (Error e = checkThresholdsGiven(a, thresholds != nullptr))
    return e;
  StridedMemRefType<float, 4> dq = descriptorOf(q), dk = descriptorOf(k), dv = descriptorOf(v),
                              dout = descriptorOf(out);
  StridedMemRefType<float, 4> *args[] = {&dq, &dk, &dv, &dout};
  // The stats tensor: contiguous [Hq, ceil(Sq / bq), ceil(Sk / bk)].
  StridedMemRefType<float, 3> dstats;
  dstats.basePtr = dstats.data = stats;
  dstats.offset = 0;
  if (stats) {
    const int64_t qBlocks = (a.shape.seqQ + a.blockQ - 1) / a.blockQ,
                  kBlocks = (a.shape.seqK + a.blockK - 1) / a.blockK;
    dstats.sizes[0] = a.shape.headsQ;
    dstats.sizes[1] = qBlocks;
    dstats.sizes[2] = kBlocks;
    dstats.strides[0] = qBlocks * kBlocks;
    dstats.strides[1] = kBlocks;
    dstats.strides[2] = 1;
  }
  StridedMemRefType<float, 3> *statsArg = &dstats;
  StridedMemRefType<float, 1> dthresholds = thresholdsDescriptor(a.shape, thresholds);
  StridedMemRefType<float, 1> *thresholdsArg = &dthresholds;
  StridedMemRefType<float, 3> dlse = lseDescriptor(a.shape, lse);
  StridedMemRefType<float, 3> *lseArg = &dlse;
  // Then the op's optional operands, in its order: stats or thresholds,
  // then the lse.
  std::vector<void *> packed = {&args[0], &args[1], &args[2], &args[3]};
  if (stats)
    packed.push_back(&statsArg);
  if (thresholds)
    packed.push_back(&thresholdsArg);
  if (lse)
    packed.push_back(&lseArg);
  // A generation step: i32 [2].
  int32_t *positions = data.positions;
  StridedMemRefType<int32_t, 1> dpositions{positions, positions, 0, {2}, {1}};
  StridedMemRefType<int32_t, 1> *positionsArg = &dpositions;
  if (positions)
    packed.push_back(&positionsArg);
  // A ragged batch's offsets, i32 [2, B + 1], then a paged one's page
  // table, i32 [B, pages per sequence] (the kernel only reads them).
  const int64_t batch = a.shape.batch, columns = a.pagesPerSequence();
  int32_t *sequences = data.sequences, *pages = const_cast<int32_t *>(data.pages);
  StridedMemRefType<int32_t, 2> dsequences{sequences, sequences, 0, {2, batch + 1}, {batch + 1, 1}};
  StridedMemRefType<int32_t, 2> *sequencesArg = &dsequences;
  if (sequences)
    packed.push_back(&sequencesArg);
  StridedMemRefType<int32_t, 2> dpages{pages, pages, 0, {batch, columns}, {columns, 1}};
  StridedMemRefType<int32_t, 2> *pagesArg = &dpages;
  if (pages)
    packed.push_back(&pagesArg);
  return invoke(kernel, packed);
}

Error CpuExecutor::backward(const CpuKernel &kernel, const BackwardTensors &t) const {
  const Artifact &a = kernel.artifact;
  if (!a.backward)
    return Error(ErrorCode::InvalidArgument,
                 "backward() needs an artifact compiled with KernelSpec::backward");
  if (Error e = checkBackwardTensors(a.shape, t, DeviceKind::Host))
    return e;
  if (Error e = checkThresholdsGiven(a, t.thresholds != nullptr))
    return e;
  StridedMemRefType<float, 4> views[] = {
      descriptorOf(t.q),    descriptorOf(t.k),  descriptorOf(t.v),  descriptorOf(t.out),
      descriptorOf(t.dout), descriptorOf(t.dq), descriptorOf(t.dk), descriptorOf(t.dv)};
  StridedMemRefType<float, 4> *v[8];
  for (int i = 0; i < 8; ++i)
    v[i] = &views[i];
  StridedMemRefType<float, 3> dlse = lseDescriptor(a.shape, t.lse);
  StridedMemRefType<float, 3> *lseArg = &dlse;
  StridedMemRefType<float, 1> dthresholds = thresholdsDescriptor(a.shape, t.thresholds);
  StridedMemRefType<float, 1> *thresholdsArg = &dthresholds;
  // The host function's order: q, k, v, out, dout, lse, dq, dk, dv[, thresholds].
  std::vector<void *> packed = {&v[0], &v[1], &v[2], &v[3], &v[4], &lseArg, &v[5], &v[6], &v[7]};
  if (t.thresholds)
    packed.push_back(&thresholdsArg);
  return invoke(kernel, packed);
}

} // namespace sieve::runtime
