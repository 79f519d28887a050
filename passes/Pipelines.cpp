//===- Pipelines.cpp - sieve-to-ptx and sieve-to-cpu ----------------------===//
//
// The two pipelines the compiler runs, registered so that sieve-opt (and so
// the lit tests) run exactly the same pass lists.
//
//===----------------------------------------------------------------------===//
#include "sieve/passes/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVGPUToNVVM/NVGPUToNVVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"
#include "sieve/runtime/TargetInfo.h"

using namespace mlir;

namespace sieve::passes {

void buildSieveToGpuKernelsPipeline(OpPassManager &pm, const PtxPipelineOptions &options) {
  pm.addPass(createSpecializeMask());
  // The generic kernel's schedule is fixed per shape (the mask is data), so
  // only specialized kernels are balanced by cutting long rows.
  // Rows are balanced over the target's SMs: the given count, else the
  // chip's usual part's (an unknown chip is LowerToGpu's to report).
  auto target = runtime::TargetInfo::forChip(options.chip.getValue());
  const int64_t sms = options.sms > 0 ? options.sms : target ? target->multiprocessors : 0;
  const int64_t workers = options.splitWorkers > 0 ? options.splitWorkers : sms;
  if (options.packGqa && options.variant != "generic")
    pm.addPass(createPackGqa());
  if (options.splitKv && options.variant != "generic" && workers > 0) {
    SplitRowsOptions split;
    split.sms = workers;
    split.generation = true; // a decode step's parts (docs/generation.md, "With split-KV")
    pm.addPass(createSplitRows(split));
  }
  LowerToGpuOptions lowering;
  lowering.variant = options.variant;
  lowering.chip = options.chip;
  lowering.sms = options.sms;
  lowering.sharedBytes = options.sharedBytes;
  lowering.queryTile = options.queryTile;
  lowering.keyTile = options.keyTile;
  lowering.stages = options.stages;
  lowering.overlap = options.overlap;
  pm.addPass(createLowerToGpu(lowering));
}

void buildSieveToPtxPipeline(OpPassManager &pm, const PtxPipelineOptions &options) {
  buildSieveToGpuKernelsPipeline(pm, options);
  buildGpuKernelsToPtxPipeline(pm, options);
}

void buildGpuKernelsToPtxPipeline(OpPassManager &pm, const PtxPipelineOptions &options) {
  pm.addPass(createCanonicalizerPass());
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSCFToControlFlowPass());
  // ldmatrix and cp.async (nvgpu) become NVVM ops on memref descriptors
  // that convert-gpu-to-nvvm then lowers with the rest.
  kernels.addPass(createConvertNVGPUToNVVMPass());
  // math.fma must become llvm.intr.fma (fma.rn.f32) here: left to
  // convert-gpu-to-nvvm it becomes a call to libdevice's __nv_fmaf, which
  // nothing links and ptxas rejects as an unresolved extern.
  kernels.addPass(createConvertMathToLLVMPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  // NVVM ops that print their own PTX (mbarrier waits, wgmma) become inline
  // assembly; convert-gpu-to-nvvm leaves them as they are.
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createExternDynamicShared());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa"; // PTX text: the driver JITs it for the chip.
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void buildSieveToCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  buildSieveToCpuPhasesPipeline(pm, options);
  buildCpuPhasesToLlvmPipeline(pm);
}

void buildSieveToCpuPhasesPipeline(OpPassManager &pm, const CpuPipelineOptions &options) {
  pm.addPass(createSpecializeMask());
  // The GPU's schedule transforms run here too when asked, so the host
  // loops compute (and CI checks) what a GPU's kernels would.
  if (options.packGqa)
    pm.addPass(createPackGqa());
  if (options.splitKv) {
    SplitRowsOptions split;
    split.sms = options.workers;
    split.generation = true;
    pm.addPass(createSplitRows(split));
  }
  LowerToCpuOptions lowering;
  lowering.vectorWidth = options.vectorWidth;
  pm.addPass(createLowerToCpu(lowering));
}

void buildCpuPhasesToLlvmPipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createLoopInvariantCodeMotionPass());
  pm.addPass(createCSEPass());
  // The tiles' views (reinterpret_cast, extract_strided_metadata) become
  // plain descriptor arithmetic.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  // Horizontal sums as trees (a fixed order, so still deterministic)
  // rather than one lane after the other.
  ConvertVectorToLLVMPassOptions vector;
  vector.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(vector));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void registerSievePassesAndPipelines() {
  registerSievePasses(); // the generated registration of Passes.td
  PassPipelineRegistration<PtxPipelineOptions>(
      "sieve-to-ptx", "Lower sieve.attention through NVVM to PTX in a gpu.binary",
      buildSieveToPtxPipeline);
  PassPipelineRegistration<CpuPipelineOptions>(
      "sieve-to-cpu", "Lower sieve.attention to the LLVM dialect for the host",
      buildSieveToCpuPipeline);
}

void registerSieveCompilerDialects(DialectRegistry &registry) {
  registry.insert<dialect::SieveDialect, arith::ArithDialect, func::FuncDialect, scf::SCFDialect,
                  memref::MemRefDialect, math::MathDialect, cf::ControlFlowDialect, gpu::GPUDialect,
                  LLVM::LLVMDialect, NVVM::NVVMDialect, index::IndexDialect, ub::UBDialect,
                  nvgpu::NVGPUDialect, vector::VectorDialect>();
  // Conversion interfaces used by convert-gpu-to-nvvm for the ops inside kernels.
  arith::registerConvertArithToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  vector::registerConvertVectorToLLVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  // Serialization of gpu.module to PTX, and LLVM IR export for both targets.
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
}

} // namespace sieve::passes
