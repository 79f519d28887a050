// RUN: sieve-opt %s -sieve-specialize-mask -sieve-split-rows="sms=4 min-part-keys=8 imbalance=1" | FileCheck %s

// Parts of at least 8 keys (4 blocks of 2): the 4-block row is no longer
// than that, so the mask that splits with shorter parts (split-rows.mlir,
// @one_dense_row) is left whole.
// CHECK-LABEL: func @short_parts_do_not_pay
// CHECK: sieve.block_sparse_attention
// CHECK-NOT: row_slots
func.func @short_parts_do_not_pay(%q: memref<1x1x8x8xf32>, %k: memref<1x1x8x8xf32>, %v: memref<1x1x8x8xf32>, %o: memref<1x1x8x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x4x4, "2f84">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>, memref<1x1x8x8xf32>
  return
}
