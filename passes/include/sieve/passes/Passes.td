//===- Passes.td - sieve passes -----------------------------*- tablegen -*-===//
#ifndef SIEVE_PASSES_TD
#define SIEVE_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpecializeMask : Pass<"sieve-specialize-mask", "mlir::ModuleOp"> {
  let summary = "Turn a constant block mask into per-row key-block tables";
  let description = [{
    Rewrites every `sieve.attention` into `sieve.block_sparse_attention`:
    one work row per (head, query block) with the CSR list of the key blocks
    the mask keeps. With `causal`, key blocks wholly above the diagonal are
    dropped here. Rows are ordered longest first (a cheap balance for the GPU
    scheduler); rows left empty, whole pruned heads included, come last and
    only write zeros, so they never read keys or values.
  }];
  let dependentDialects = ["::sieve::dialect::SieveDialect"];
}

def LowerToCpu : Pass<"sieve-lower-to-cpu", "mlir::ModuleOp"> {
  let summary = "Lower sieve.block_sparse_attention to scf/memref loops for the host";
  let description = [{
    Each op becomes a loop nest over batch, work rows and query positions with
    an online (streaming) softmax in f32 per query row. The row tables become
    `memref.global` constants of the module.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect", "mlir::math::MathDialect"];
}

def LowerToGpu : Pass<"sieve-lower-to-gpu", "mlir::ModuleOp"> {
  let summary = "Lower sieve.block_sparse_attention to a gpu.module kernel and its launch";
  let description = [{
    Each op becomes a `gpu.func` kernel in its own `gpu.module` and a
    `gpu.launch_func` in its place. One thread block computes one work row of
    one batch entry (grid = rows x batch); each thread owns one query row and
    keeps its running max, sum and accumulator in f32 while key and value
    chunks are staged through shared memory. The row tables become constant
    globals of the kernel module.
  }];
  let options = [
    Option<"chunkElements", "chunk-elements", "int64_t", /*default=*/"4096",
           "Key chunk staged in shared memory, in elements per operand (keys x head dim)">
  ];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect", "mlir::gpu::GPUDialect",
                           "mlir::LLVM::LLVMDialect", "mlir::NVVM::NVVMDialect",
                           "mlir::math::MathDialect"];
}

#endif // SIEVE_PASSES_TD
