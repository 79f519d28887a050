// RUN: sieve-opt %s -sieve-specialize-mask | FileCheck %s

// A generation op's rows are the position mask's: one per position block
// (3 here, though the call has one query), causal in position space (block
// qb keeps key blocks 0..qb), longest first; the positions operand stays.
// CHECK-LABEL: func @decode
// CHECK: sieve.block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} positions(%{{.*}} : memref<2xi32>)
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2, 0, 1, 0>
// CHECK-SAME: row_query_blocks = array<i32: 2, 1, 0>
// CHECK-SAME: row_spans = array<i32: 0, 3, 3, 5, 5, 6>
func.func @decode(%q: memref<1x1x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x1x4xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x3x3, "ff01">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x1x4xf32>
  return
}
