//===- sieve-opt.cpp - mlir-opt with the sieve dialect and passes ---------===//
//
// The driver of the lit tests and of debugging sessions: only the dialects
// the pipelines use are registered, plus the upstream passes that lit tests
// name directly. Each upstream pass comes with its own header, not
// mlir/Conversion/Passes.h: that one includes every conversion in MLIR and
// made this file the slowest of the build to compile.
//
//===----------------------------------------------------------------------===//
#include "sieve/passes/Passes.h"

#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  sieve::passes::registerSieveCompilerDialects(registry);
  sieve::passes::registerSievePassesAndPipelines();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  // The conversions' register functions come only with all of them
  // (GEN_PASS_REGISTRATION in mlir/Conversion/Passes.h): register these by
  // their create functions, under the names the passes give themselves.
  mlir::registerPass([] { return mlir::createSCFToControlFlowPass(); });
  mlir::registerPass([] { return mlir::createConvertGpuOpsToNVVMOps(); });
  mlir::registerPass([] { return mlir::createReconcileUnrealizedCastsPass(); });
  mlir::registerGpuNVVMAttachTarget();
  mlir::registerGpuModuleToBinaryPass();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "sieve optimizer driver\n", registry));
}
