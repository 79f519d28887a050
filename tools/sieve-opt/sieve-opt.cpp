//===- sieve-opt.cpp - mlir-opt with the sieve dialect and passes ---------===//
//
// The driver of the lit tests and of debugging sessions: only the dialects
// the pipelines use are registered, plus the upstream passes that lit tests
// name directly.
//
//===----------------------------------------------------------------------===//
#include "sieve/passes/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  sieve::passes::registerSieveCompilerDialects(registry);
  sieve::passes::registerSievePassesAndPipelines();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSCFToControlFlowPass();
  mlir::registerConvertGpuOpsToNVVMOps();
  mlir::registerGpuNVVMAttachTarget();
  mlir::registerGpuModuleToBinaryPass();
  mlir::registerReconcileUnrealizedCastsPass();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "sieve optimizer driver\n", registry));
}
