// RUN: sieve-opt %s -split-input-file -verify-diagnostics

// The stats operand is shaped like the mask: [query heads, query blocks, key blocks].
func.func @stats_shape(%q: memref<1x2x6x4xf32>, %k: memref<1x1x5x4xf32>, %v: memref<1x1x5x4xf32>, %o: memref<1x2x6x4xf32>, %s: memref<2x3x2xf32>) {
  // expected-error @+1 {{operand 'stats' has shape [2, 3, 2], expected [2, 3, 3] ([query heads, query blocks, key blocks])}}
  sieve.attention %q, %k, %v, %o stats(%s : memref<2x3x2xf32>) {mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x6x4xf32>, memref<1x1x5x4xf32>, memref<1x1x5x4xf32>, memref<1x2x6x4xf32>
  return
}

// -----

// The same on the block-sparse form.
func.func @block_sparse_stats_shape(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>, %s: memref<1x2x1xf32>) {
  // expected-error @+1 {{operand 'stats' has shape [1, 2, 1], expected [1, 2, 2]}}
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x2x1xf32>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 2>, key_blocks = array<i32: 1, 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Statistics accumulate in f32.
func.func @stats_type(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>, %s: memref<1x2x2xf16>) {
  // expected-error @+1 {{operand #4 must be}}
  sieve.block_sparse_attention %q, %k, %v, %o stats(%s : memref<1x2x2xf16>) {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 2>, key_blocks = array<i32: 1, 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}
