// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask | FileCheck %s

// Rows come longest first; a head the mask empties (head 1) only lists
// zero-length rows, at the end. Mask bits (h, qb, kb) row-major:
//   head 0: qb0 -> {0, 1}, qb1 -> {1}; head 1: nothing.
// CHECK-LABEL: func @order_and_empty_head
// CHECK-NOT: sieve.attention
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: key_blocks = array<i32: 0, 1, 1>
// CHECK-SAME: row_heads = array<i32: 0, 0, 1, 1>
// CHECK-SAME: row_query_blocks = array<i32: 0, 1, 0, 1>
// CHECK-SAME: row_spans = array<i32: 0, 2, 2, 3, 3, 3, 3, 3>
func.func @order_and_empty_head(%q: memref<1x2x4x8xf32>, %k: memref<1x2x4x8xf32>, %v: memref<1x2x4x8xf32>, %o: memref<1x2x4x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x2x2, "0b">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4x8xf32>, memref<1x2x4x8xf32>
  return
}

// -----

// With causal, tiles wholly above the diagonal are dropped even when kept:
// a full 1x3x3 mask keeps 1 + 2 + 3 tiles; the longest row goes first.
// CHECK-LABEL: func @causal_drops_upper_tiles
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: causal
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2, 0, 1, 0>
// CHECK-SAME: row_query_blocks = array<i32: 2, 1, 0>
// CHECK-SAME: row_spans = array<i32: 0, 3, 3, 5, 5, 6>
func.func @causal_drops_upper_tiles(%q: memref<1x1x6x8xf32>, %k: memref<1x1x6x8xf32>, %v: memref<1x1x6x8xf32>, %o: memref<1x1x6x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x3x3, "ff01">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x6x8xf32>, memref<1x1x6x8xf32>, memref<1x1x6x8xf32>, memref<1x1x6x8xf32>
  return
}

// -----

// Cross-attention (Sq != Sk) with ragged last blocks and GQA (4 query heads
// on 2 key heads): the tables index query heads; nothing is dropped without
// causal. Head h keeps only key block h % 3, so head 3 reuses head 0's list.
// CHECK-LABEL: func @cross_gqa
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2>
// CHECK-SAME: row_heads = array<i32: 0, 1, 2, 3>
// CHECK-SAME: row_spans = array<i32: 0, 1, 1, 2, 2, 3, 0, 1>
func.func @cross_gqa(%q: memref<1x4x3x8xf32>, %k: memref<1x2x9x8xf32>, %v: memref<1x2x9x8xf32>, %o: memref<1x4x3x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<4x1x3, "1103">, scale = 0.5 : f32, block_q = 4, block_k = 4} : memref<1x4x3x8xf32>, memref<1x2x9x8xf32>, memref<1x2x9x8xf32>, memref<1x4x3x8xf32>
  return
}

// -----

// An all-empty mask still lists every row (they write zeros).
// CHECK-LABEL: func @all_empty
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: key_blocks = array<i32>
// CHECK-SAME: row_spans = array<i32: 0, 0, 0, 0>
func.func @all_empty(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x2x2, "00">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// Heads with the same mask (a layer-wide mask) share one copy of each key
// list: 4 heads x 2 rows, but only the 2 distinct lists are stored.
// Per head: qb0 -> {0}, qb1 -> {0, 1} (bits 0b1101 per head = 0xdd per 2 heads).
// CHECK-LABEL: func @shared_heads
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: key_blocks = array<i32: 0, 1, 0>
// CHECK-SAME: row_heads = array<i32: 0, 1, 2, 3, 0, 1, 2, 3>
// CHECK-SAME: row_query_blocks = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>
// CHECK-SAME: row_spans = array<i32: 0, 2, 0, 2, 0, 2, 0, 2, 2, 3, 2, 3, 2, 3, 2, 3>
func.func @shared_heads(%q: memref<1x4x4x8xf32>, %k: memref<1x4x4x8xf32>, %v: memref<1x4x4x8xf32>, %o: memref<1x4x4x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<4x2x2, "dddd">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x4x4x8xf32>, memref<1x4x4x8xf32>, memref<1x4x4x8xf32>, memref<1x4x4x8xf32>
  return
}
