// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-pack-gqa -sieve-split-rows="sms=7 min-part-keys=2" | FileCheck %s

// GQA-packed (decode) rows are cut to fill whole waves: two packed rows of
// 10 key blocks on 7 SMs have a balanced share of 3 blocks, which would
// make 4 parts a row, 8 blocks, a second wave for one of them (6 block-
// times); 3 parts a row (4, 3 and 3 blocks) take one wave (4 block-times).
// CHECK-LABEL: func @decode_waves
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: key_block_segments
// CHECK-SAME: row_slots = array<i32: 0, 3, 1, 2, 4, 5>
// CHECK-SAME: row_spans = array<i32: 0, 4, 10, 14, 4, 7, 7, 10, 14, 17, 17, 20>
// CHECK-SAME: split_groups = array<i32: 0, 0, 0, 3, 1, 0, 3, 3>
func.func @decode_waves(%q: memref<1x4x1x8xf32>, %k: memref<1x2x20x8xf32>, %v: memref<1x2x20x8xf32>, %o: memref<1x4x1x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<4x1x10, "ffffffffff">, scale = 0.5 : f32, block_q = 1, block_k = 2} : memref<1x4x1x8xf32>, memref<1x2x20x8xf32>, memref<1x2x20x8xf32>, memref<1x4x1x8xf32>
  return
}
