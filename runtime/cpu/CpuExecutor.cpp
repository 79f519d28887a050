//===- CpuExecutor.cpp ----------------------------------------------------===//
#include "sieve/runtime/CpuExecutor.h"

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

namespace sieve::runtime {

class CpuKernel {
public:
  Artifact artifact;
  // Declared before the engine so it outlives it.
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

CpuExecutor::CpuExecutor() = default;
CpuExecutor::~CpuExecutor() = default;

namespace {

void initializeNativeTarget() {
  static bool done = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)done;
}

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

Error invoke(const CpuKernel &kernel, llvm::MutableArrayRef<void *> packed) {
  llvm::Error err =
      kernel.engine->invokePacked("_mlir_ciface_" + kernel.artifact.mainLaunch().entry, packed);
  if (err)
    return Error(ErrorCode::Internal, "CPU kernel call failed: " + llvm::toString(std::move(err)));
  return Error::success();
}

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
  if (artifact.shape.dtype != DType::F32)
    return Error(ErrorCode::Unsupported,
                 std::string("the CPU backend runs f32 only, artifact is ") +
                     dtypeName(artifact.shape.dtype));
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = kernels_.find(artifact.cacheKey);
  if (it != kernels_.end())
    return it->second;

  initializeNativeTarget();
  // Each kernel owns its context: the engine keeps references into it.
  auto kernel = std::make_shared<CpuKernel>();
  mlir::DialectRegistry registry;
  registry.insert<mlir::LLVM::LLVMDialect>();
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  auto context = std::make_unique<mlir::MLIRContext>(registry);
  context->loadAllAvailableDialects();
  std::string diagnostics;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  {
    mlir::ScopedDiagnosticHandler handler(context.get(), [&](mlir::Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return mlir::success();
    });
    module = mlir::parseSourceString<mlir::ModuleOp>(artifact.code, context.get());
  }
  if (!module)
    return Error(ErrorCode::CorruptArtifact, "CPU artifact code does not parse: " + diagnostics);
  mlir::ExecutionEngineOptions options;
  options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  auto engine = mlir::ExecutionEngine::create(*module, options);
  if (!engine)
    return Error(ErrorCode::Compile,
                 "JIT compilation failed: " + llvm::toString(engine.takeError()));
  kernel->engine = std::move(*engine);
  kernel->artifact = artifact;
  kernel->artifact.code.clear();
  kernel->context = std::move(context);
  kernels_.emplace(artifact.cacheKey, kernel);
  return kernel;
}

Error CpuExecutor::run(const CpuKernel &kernel, const TensorView &q, const TensorView &k,
                       const TensorView &v, const TensorView &out, float *stats,
                       const float *thresholds, float *lse) const {
  if (Error e = checkAttentionTensors(kernel.artifact.shape, q, k, v, out, DeviceKind::Host))
    return e;
  const Artifact &a = kernel.artifact;
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
  // The thresholds: contiguous [Hq]. The kernel reads them, never writes.
  StridedMemRefType<float, 1> dthresholds;
  dthresholds.basePtr = dthresholds.data = const_cast<float *>(thresholds);
  dthresholds.offset = 0;
  dthresholds.sizes[0] = a.shape.headsQ;
  dthresholds.strides[0] = 1;
  StridedMemRefType<float, 1> *thresholdsArg = &dthresholds;
  StridedMemRefType<float, 3> dlse = lseDescriptor(a.shape, lse);
  StridedMemRefType<float, 3> *lseArg = &dlse;
  // The fifth argument is the stats, the thresholds or the lse (one at most).
  void *packed[] = {&args[0], &args[1], &args[2], &args[3],
                    thresholds ? static_cast<void *>(&thresholdsArg)
                    : lse      ? static_cast<void *>(&lseArg)
                               : static_cast<void *>(&statsArg)};
  return invoke(kernel, packed);
}

Error CpuExecutor::backward(const CpuKernel &kernel, const BackwardTensors &t) const {
  const Artifact &a = kernel.artifact;
  if (!a.backward)
    return Error(ErrorCode::InvalidArgument,
                 "backward() needs an artifact compiled with KernelSpec::backward");
  if (Error e = checkBackwardTensors(a.shape, t, DeviceKind::Host))
    return e;
  StridedMemRefType<float, 4> views[] = {
      descriptorOf(t.q),    descriptorOf(t.k),  descriptorOf(t.v),  descriptorOf(t.out),
      descriptorOf(t.dout), descriptorOf(t.dq), descriptorOf(t.dk), descriptorOf(t.dv)};
  StridedMemRefType<float, 4> *v[8];
  for (int i = 0; i < 8; ++i)
    v[i] = &views[i];
  StridedMemRefType<float, 3> dlse = lseDescriptor(a.shape, t.lse);
  StridedMemRefType<float, 3> *lseArg = &dlse;
  // The host function's order: q, k, v, out, dout, lse, dq, dk, dv.
  void *packed[] = {&v[0], &v[1], &v[2], &v[3], &v[4], &lseArg, &v[5], &v[6], &v[7]};
  return invoke(kernel, packed);
}

} // namespace sieve::runtime
