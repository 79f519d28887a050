// RUN: not sieve-opt %s -sieve-lower-to-gpu="chip=sm_90a" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: not sieve-opt %s -sieve-lower-to-gpu="chip=sm_75" -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHIP

// Each body is a pattern that declines with its reason; when none takes an
// op (here f32, which the tensor-core bodies do not take, with block_q =
// 2048, too many rows for a simt block), the error names every body's
// reason, fastest first.
// NONE: error: 'sieve.block_sparse_attention' op no GPU kernel body runs it (variant=auto): wgmma needs f16 or bf16 elements; mma needs f16 or bf16 elements; simt block_q 2048 exceeds the 1024 threads of a GPU block
func.func @huge_block(%q: memref<1x1x2048x64xf32, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x64x64xf32, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x64x64xf32, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x2048x64xf32, strided<[?, ?, ?, 1], offset: ?>>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, key_blocks = array<i32: 0>, scale = 0.125 : f32, block_q = 2048, block_k = 64} : memref<1x1x2048x64xf32, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xf32, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xf32, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x2048x64xf32, strided<[?, ?, ?, 1], offset: ?>>
  return
}


// A chip sieve has no description of is refused by name.
// CHIP: sieve-lower-to-gpu: unsupported chip 'sm_75' (expected sm_80, sm_86, sm_89, sm_90, sm_90a)
