// RUN: sieve-opt %s -sieve-lower-to-cpu -verify-diagnostics

// Split-KV parts need the GPU's combine kernel; the host loops refuse them.
func.func @split_on_cpu(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  // expected-error @+1 {{has split rows (sieve-split-rows), which only the GPU lowering combines; the CPU pipeline runs whole rows}}
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 0, 1>, row_spans = array<i32: 0, 1, 1, 2, 2, 2>, key_blocks = array<i32: 0, 1>, row_slots = array<i32: 0, 1, -1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}
