// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask | FileCheck %s

// The backward gets the forward's row tables and column tables of the same
// tiles. GQA: query heads 0 and 1 share key head 0. Mask bits (h, qb, kb):
//   head 0: qb0 -> {0}, qb1 -> {0, 1}; head 1: qb1 -> {1}.
// Column (kv 0, kb 0) is read by (0, 0) and (0, 1); (kv 0, kb 1) by (0, 1)
// and (1, 1): two tiles each, listed by query head then query block.
// CHECK-LABEL: func @gqa_columns
// CHECK-NOT: sieve.attention_backward
// CHECK: sieve.block_sparse_attention_backward
// CHECK-SAME: col_key_blocks = array<i32: 0, 1>
// CHECK-SAME: col_kv_heads = array<i32: 0, 0>
// CHECK-SAME: col_query_blocks = array<i32: 0, 1, 1, 1>
// CHECK-SAME: col_query_heads = array<i32: 0, 0, 0, 1>
// CHECK-SAME: col_spans = array<i32: 0, 2, 2, 4>
// CHECK-SAME: row_heads = array<i32: 0, 0, 1, 1>
func.func @gqa_columns(%q: memref<1x2x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x2x4x8xf32>, %do: memref<1x2x4x8xf32>, %lse: memref<1x2x4xf32>, %dq: memref<1x2x4x8xf32>, %dk: memref<1x1x4x8xf32>, %dv: memref<1x1x4x8xf32>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<2x2x2, "8d">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4xf32> -> memref<1x2x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// Causal: a full 1x2x2 mask keeps three tiles; the upper one (qb 0, kb 1)
// is in neither table, and its column comes last, empty.
// CHECK-LABEL: func @causal_columns
// CHECK: sieve.block_sparse_attention_backward
// CHECK-SAME: causal
// CHECK-SAME: col_key_blocks = array<i32: 0, 1>
// CHECK-SAME: col_query_blocks = array<i32: 0, 1, 1>
// CHECK-SAME: col_spans = array<i32: 0, 2, 2, 3>
// CHECK-SAME: key_blocks = array<i32: 0, 1, 0>
func.func @causal_columns(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>, %do: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>, %dq: memref<1x1x4x8xf32>, %dk: memref<1x1x4x8xf32>, %dv: memref<1x1x4x8xf32>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<1x2x2, "0f">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4xf32> -> memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// The forward's optional lse operand travels to the specialized op.
// CHECK-LABEL: func @forward_lse
// CHECK: sieve.block_sparse_attention %{{.*}} lse(%{{.*}} : memref<1x1x4xf32>)
func.func @forward_lse(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>) {
  sieve.attention %q, %k, %v, %o lse(%lse : memref<1x1x4xf32>) {mask = #sieve.block_mask<1x2x2, "0f">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}
