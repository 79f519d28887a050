// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=4 generation=true" | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=4" | FileCheck %s --check-prefix=OFF

// A decode step over 16 positions in 2-blocks, causal and dense: its rows
// are picked at run time, the longest (the last position block's) has 8
// key blocks. One row head, 4 workers, parts of at least 2 blocks: 4 parts
// of 2 blocks fill the 4 workers in one wave (2 block-times, against 8
// whole). Every row gets the same parts; the one group merges them.
// CHECK-LABEL: func @decode_step
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: generation_parts = 4
// CHECK-SAME: split_groups = array<i32: 0, 0, 0, 4>
// CHECK-NOT: row_slots
// Without `generation` (the GPU pipelines'), generation rows stay whole.
// OFF-LABEL: func @decode_step
// OFF-NOT: generation_parts
func.func @decode_step(%q: memref<1x1x1x8xf32>, %k: memref<1x1x16x8xf32>, %v: memref<1x1x16x8xf32>, %o: memref<1x1x1x8xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x8x8, "ffffffffffffffff">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x1x8xf32>, memref<1x1x16x8xf32>, memref<1x1x16x8xf32>, memref<1x1x1x8xf32>
  return
}

// -----

// Two queries a head (a prefill chunk): not split.
// CHECK-LABEL: func @chunk
// CHECK-NOT: generation_parts
func.func @chunk(%q: memref<1x1x2x8xf32>, %k: memref<1x1x16x8xf32>, %v: memref<1x1x16x8xf32>, %o: memref<1x1x2x8xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x8x8, "ffffffffffffffff">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x2x8xf32>, memref<1x1x16x8xf32>, memref<1x1x16x8xf32>, memref<1x1x2x8xf32>
  return
}

// -----

// Eight batch entries fill the 4 workers twice already: cutting only adds
// waves, so the rows stay whole.
// CHECK-LABEL: func @full_batch
// CHECK-NOT: generation_parts
func.func @full_batch(%q: memref<8x1x1x8xf32>, %k: memref<8x1x16x8xf32>, %v: memref<8x1x16x8xf32>, %o: memref<8x1x1x8xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x8x8, "ffffffffffffffff">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<8x1x1x8xf32>, memref<8x1x16x8xf32>, memref<8x1x16x8xf32>, memref<8x1x1x8xf32>
  return
}
