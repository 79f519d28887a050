// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=2" | FileCheck %s

// With the default imbalance (3), a longest row of 4 blocks against a share
// of 2 is not worth cutting: the partial stores and the combine would eat
// the gain (measured on an H200, docs/perf-notes.md).
// CHECK-LABEL: func @not_worth_a_cut
// CHECK: sieve.block_sparse_attention
// CHECK-NOT: row_slots
func.func @not_worth_a_cut(%q: memref<1x1x8x8xf32>, %k: memref<1x1x8x8xf32>, %v: memref<1x1x8x8xf32>, %o: memref<1x1x8x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x4x4, "2f84">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>
  return
}

// -----

// One row of 8 blocks is the whole launch: 4 shares of 2, cut into 4 parts.
// CHECK-LABEL: func @one_row_alone
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: row_slots = array<i32: 0, 1, 2, 3>
// CHECK-SAME: row_spans = array<i32: 0, 2, 2, 4, 4, 6, 6, 8>
// CHECK-SAME: split_groups = array<i32: 0, 0, 0, 4>
func.func @one_row_alone(%q: memref<1x1x2x8xf32>, %k: memref<1x1x16x8xf32>, %v: memref<1x1x16x8xf32>, %o: memref<1x1x2x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x8, "ff">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x2x8xf32>, memref<1x1x16x8xf32>, memref<1x1x16x8xf32>, memref<1x1x2x8xf32>
  return
}
