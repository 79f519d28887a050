// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=2 imbalance=1" | FileCheck %s

// One dense row among diagonal ones: 7 kept tiles over 4 SMs give a share
// of 2 blocks, so the 4-block row of query block 0 becomes two parts (slots
// 0 and 1, consecutive pieces of its list) and one split group; the parts
// are 2 long and come first, the 1-block rows keep slot -1.
// Mask bits (qb, kb): qb0 -> {0, 1, 2, 3}, qb1 -> {1}, qb2 -> {2}, qb3 -> {3}.
// CHECK-LABEL: func @one_dense_row
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2, 3, 1, 2, 3>
// CHECK-SAME: row_heads = array<i32: 0, 0, 0, 0, 0>
// CHECK-SAME: row_query_blocks = array<i32: 0, 0, 1, 2, 3>
// CHECK-SAME: row_slots = array<i32: 0, 1, -1, -1, -1>
// CHECK-SAME: row_spans = array<i32: 0, 2, 2, 4, 4, 5, 5, 6, 6, 7>
// CHECK-SAME: split_groups = array<i32: 0, 0, 0, 2>
func.func @one_dense_row(%q: memref<1x1x8x8xf32>, %k: memref<1x1x8x8xf32>, %v: memref<1x1x8x8xf32>, %o: memref<1x1x8x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x4x4, "2f84">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>
  return
}

// -----

// The same mask with batch 4: 28 tile-runs over 4 SMs is a share of 7
// blocks, longer than any row, so nothing is cut (no row_slots).
// CHECK-LABEL: func @batch_fills_the_gpu
// CHECK: sieve.block_sparse_attention
// CHECK-NOT: row_slots
// CHECK-NOT: split_groups
// CHECK-SAME: : memref<4x1x8x8xf32>
func.func @batch_fills_the_gpu(%q: memref<4x1x8x8xf32>, %k: memref<4x1x8x8xf32>, %v: memref<4x1x8x8xf32>, %o: memref<4x1x8x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x4x4, "2f84">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<4x1x8x8xf32>, memref<4x1x8x8xf32>, memref<4x1x8x8xf32>, memref<4x1x8x8xf32>
  return
}

// -----

// A row of 5 blocks over a share of 2 (one row, 5 tiles, 4 SMs) is cut into
// ceil(5 / 2) = 3 near-equal parts, the longer ones first: 2, 2, 1.
// CHECK-LABEL: func @uneven_parts
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: row_slots = array<i32: 0, 1, 2>
// CHECK-SAME: row_spans = array<i32: 0, 2, 2, 4, 4, 5>
// CHECK-SAME: split_groups = array<i32: 0, 0, 0, 3>
func.func @uneven_parts(%q: memref<1x1x2x8xf32>, %k: memref<1x1x10x8xf32>, %v: memref<1x1x10x8xf32>, %o: memref<1x1x2x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x5, "1f">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x2x8xf32>, memref<1x1x10x8xf32>, memref<1x1x10x8xf32>, memref<1x1x2x8xf32>
  return
}

// -----

// GQA with a pruned head: two query heads share one key head; head 1 is
// empty and stays a zero-length row at the end, head 0's 5-block row is cut.
// CHECK-LABEL: func @gqa_empty_head
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: row_heads = array<i32: 0, 0, 0, 1>
// CHECK-SAME: row_slots = array<i32: 0, 1, 2, -1>
// CHECK-SAME: row_spans = array<i32: 0, 2, 2, 4, 4, 5, 5, 5>
// CHECK-SAME: split_groups = array<i32: 0, 0, 0, 3>
func.func @gqa_empty_head(%q: memref<1x2x2x8xf32>, %k: memref<1x1x10x8xf32>, %v: memref<1x1x10x8xf32>, %o: memref<1x2x2x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x1x5, "1f00">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x2x8xf32>, memref<1x1x10x8xf32>, memref<1x1x10x8xf32>, memref<1x2x2x8xf32>
  return
}
