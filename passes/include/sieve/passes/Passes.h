//===- Passes.h - sieve passes and pipelines --------------------*- C++ -*-===//
#ifndef SIEVE_PASSES_PASSES_H
#define SIEVE_PASSES_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"
#include "sieve/dialect/SieveDialect.h"
#include "sieve/passes/GenerationSplit.h"

#include <string>

namespace sieve::passes {

#define GEN_PASS_DECL
#include "sieve/passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sieve/passes/Passes.h.inc"

/// Options of the `sieve-to-ptx` pipeline.
struct PtxPipelineOptions : public mlir::PassPipelineOptions<PtxPipelineOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("GPU architecture, e.g. sm_80 or sm_90a"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> features{*this, "features", llvm::cl::desc("PTX features, e.g. +ptx80"),
                               llvm::cl::init("+ptx80")};
  Option<std::string> variant{*this, "variant",
                              llvm::cl::desc("Kernel body: auto, wgmma, mma, simt or generic"),
                              llvm::cl::init("auto")};
  Option<int64_t> queryTile{*this, "query-tile",
                            llvm::cl::desc("wgmma/mma: query rows per thread block (0 = choose)"),
                            llvm::cl::init(0)};
  Option<int64_t> keyTile{*this, "key-tile",
                          llvm::cl::desc("wgmma/mma: keys per pipeline step (0 = choose)"),
                          llvm::cl::init(0)};
  Option<int64_t> stages{*this, "stages", llvm::cl::desc("wgmma/mma: key/value shared buffers"),
                         llvm::cl::init(2)};
  Option<bool> overlap{*this, "overlap",
                       llvm::cl::desc("wgmma: run each tile's softmax beside the previous tile's "
                                      "P·V (3+ stages)"),
                       llvm::cl::init(false)};
  Option<bool> splitKv{
      *this, "split-kv",
      llvm::cl::desc("Cut rows too long for a balanced schedule (sieve-split-rows; "
                     "specialized kernels only)"),
      llvm::cl::init(true)};
  Option<int64_t> sms{*this, "sms",
                      llvm::cl::desc("The target's SM count (0: the chip's usual part's)"),
                      llvm::cl::init(0)};
  Option<int64_t> sharedBytes{*this, "shared-bytes",
                              llvm::cl::desc("Dynamic shared memory a block may take (0: the "
                                             "chip's)"),
                              llvm::cl::init(0)};
  Option<int64_t> splitWorkers{*this, "split-workers",
                               llvm::cl::desc("Workers split-KV balances rows over (0: the "
                                              "target's SMs)"),
                               llvm::cl::init(0)};
  Option<int> optLevel{*this, "opt-level", llvm::cl::desc("LLVM optimization level"),
                       llvm::cl::init(3)};
  Option<bool> packGqa{*this, "pack-gqa",
                       llvm::cl::desc("Pack a key head's query heads into shared rows when Sq "
                                      "<= 64 (sieve-pack-gqa; specialized kernels only)"),
                       llvm::cl::init(false)};
};

/// sieve.attention -> tables -> gpu kernel -> NVVM -> PTX in a gpu.binary:
/// the two halves below.
void buildSieveToPtxPipeline(mlir::OpPassManager &pm, const PtxPipelineOptions &options);
/// sieve.attention -> tables -> gpu.func kernels, each with its launch
/// contract (#sieve.launch), the host side of each op erased.
void buildSieveToGpuKernelsPipeline(mlir::OpPassManager &pm, const PtxPipelineOptions &options);
/// The kernels' gpu.modules -> NVVM -> PTX in a gpu.binary.
void buildGpuKernelsToPtxPipeline(mlir::OpPassManager &pm, const PtxPipelineOptions &options);
struct CpuPipelineOptions : public mlir::PassPipelineOptions<CpuPipelineOptions> {
  Option<bool> splitKv{*this, "split-kv",
                       llvm::cl::desc("Cut long rows as a GPU of `workers` SMs would "
                                      "(sieve-split-rows), and combine them on the host"),
                       llvm::cl::init(false)};
  Option<int64_t> workers{*this, "workers",
                          llvm::cl::desc("Parallel workers the split schedule balances (the SM "
                                         "count of the GPU whose schedule is checked; required "
                                         "with split-kv)"),
                          llvm::cl::init(0)};
  Option<int64_t> vectorWidth{*this, "vector-width",
                              llvm::cl::desc("f32 lanes of the host's widest vectors (the "
                                             "compiler passes the host's)"),
                              llvm::cl::init(8)};
  Option<bool> packGqa{*this, "pack-gqa",
                       llvm::cl::desc("Pack a key head's query heads into shared rows when Sq "
                                      "<= 64 (sieve-pack-gqa), as the GPU pipeline does"),
                       llvm::cl::init(false)};
};

/// sieve.attention -> tables -> host loops -> LLVM dialect, ready for the
/// execution engine: the two halves below.
void buildSieveToCpuPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);
/// sieve.attention -> tables -> the host phases (func.func, each with its
/// launch contract, #sieve.launch), the op their serial run.
void buildSieveToCpuPhasesPipeline(mlir::OpPassManager &pm, const CpuPipelineOptions &options);
/// The host phases -> LLVM dialect.
void buildCpuPhasesToLlvmPipeline(mlir::OpPassManager &pm);

/// Marks a function of a CPU kernel's library (sieve-lower-to-cpu): the
/// code of its work units, which the compiler keeps in a module apart.
inline constexpr llvm::StringLiteral kLibraryAttr = "sieve.cpu_library";
/// On a CPU kernel phase's host function: the call of its library function
/// it makes, {callee, tables (symbols of i32 globals), scalars}, which the
/// executor makes itself.
inline constexpr llvm::StringLiteral kHostCallAttr = "sieve.host_call";

/// Registers the sieve passes and the two pipelines with the global registry.
void registerSievePassesAndPipelines();
/// Every dialect and external interface model the pipelines need.
void registerSieveCompilerDialects(mlir::DialectRegistry &registry);

} // namespace sieve::passes

#endif
