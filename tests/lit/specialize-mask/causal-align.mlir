// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask | FileCheck %s

// Bottom-right, Sq < Sk: 4 queries are the last 4 of 8 positions (offset
// 4). A full 1x2x4 mask keeps, per query block, the key blocks up to the
// last key its last query sees: qb0 (queries 0-1 at positions 4-5) keys
// 0-5 -> blocks 0-2; qb1 (positions 6-7) every block. Top-left would keep
// {0} and {0, 1}.
// CHECK-LABEL: func @bottom_right_kv_cache
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: causal, causal_align = #sieve.causal_align<bottom_right>
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2, 3, 0, 1, 2>
// CHECK-SAME: row_query_blocks = array<i32: 1, 0>
// CHECK-SAME: row_spans = array<i32: 0, 4, 4, 7>
func.func @bottom_right_kv_cache(%q: memref<1x1x4x8xf32>, %k: memref<1x1x8x8xf32>, %v: memref<1x1x8x8xf32>, %o: memref<1x1x4x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x2x4, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<1x1x4x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// The same shapes top-left (no causal_align): the diagonal through (0, 0).
// CHECK-LABEL: func @top_left_same_shapes
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: {block_k = 2 : i64, block_q = 2 : i64, causal, key_blocks = array<i32: 0, 1, 0>
// CHECK-SAME: row_query_blocks = array<i32: 1, 0>
// CHECK-SAME: row_spans = array<i32: 0, 2, 2, 3>
func.func @top_left_same_shapes(%q: memref<1x1x4x8xf32>, %k: memref<1x1x8x8xf32>, %v: memref<1x1x8x8xf32>, %o: memref<1x1x4x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x2x4, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x4x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// Bottom-right, Sq > Sk (offset -4): queries 0-3 come before key 0 and see
// no key, so query blocks 0 and 1 keep nothing (their rows are zeros) and
// block 2 keeps key block 0.
// CHECK-LABEL: func @bottom_right_more_queries
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: key_blocks = array<i32: 0>
// CHECK-SAME: row_query_blocks = array<i32: 2, 0, 1>
// CHECK-SAME: row_spans = array<i32: 0, 1, 1, 1, 1, 1>
func.func @bottom_right_more_queries(%q: memref<1x1x6x8xf32>, %k: memref<1x1x2x8xf32>, %v: memref<1x1x2x8xf32>, %o: memref<1x1x6x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x3x1, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<1x1x6x8xf32>, memref<1x1x2x8xf32>, memref<1x1x2x8xf32>, memref<1x1x6x8xf32>
  return
}

// -----

// The backward's row and column tables drop the same tiles: offset 2, qb0
// sees key blocks {0, 1}, qb1 {0, 1, 2}; key block 2 is read by qb1 only.
// CHECK-LABEL: func @backward_bottom_right
// CHECK: sieve.block_sparse_attention_backward
// CHECK-SAME: causal, causal_align = #sieve.causal_align<bottom_right>
// CHECK-SAME: col_key_blocks = array<i32: 0, 1, 2>
// CHECK-SAME: col_query_blocks = array<i32: 0, 1, 0, 1, 1>
// CHECK-SAME: col_spans = array<i32: 0, 2, 2, 4, 4, 5>
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2, 0, 1>
// CHECK-SAME: row_query_blocks = array<i32: 1, 0>
func.func @backward_bottom_right(%q: memref<1x1x4x8xf32>, %k: memref<1x1x6x8xf32>, %v: memref<1x1x6x8xf32>, %o: memref<1x1x4x8xf32>, %do: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>, %dq: memref<1x1x4x8xf32>, %dk: memref<1x1x6x8xf32>, %dv: memref<1x1x6x8xf32>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<1x1x4x8xf32>, memref<1x1x6x8xf32>, memref<1x1x6x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4xf32> -> memref<1x1x4x8xf32>, memref<1x1x6x8xf32>, memref<1x1x6x8xf32>
  return
}
