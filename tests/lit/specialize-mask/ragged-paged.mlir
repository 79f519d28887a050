// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask | FileCheck %s

// A ragged batch under bottom-right causal: each sequence's diagonal is
// its own (cu_seqlens at run time), so no tile is dropped here: both rows
// keep all three key blocks (one list, shared). The operands and page size
// carry over.
// CHECK-LABEL: func @bottom_right
// CHECK: sieve.block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} sequences(%{{.*}} : memref<2x3xi32>) pages(%{{.*}} : memref<2x2xi32>)
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2>
// CHECK-SAME: page_size = 4
// CHECK-SAME: row_spans = array<i32: 0, 3, 0, 3>
func.func @bottom_right(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %s: memref<2x3xi32>, %p: memref<2x2xi32>) {
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) pages(%p : memref<2x2xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>, page_size = 4} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}

// -----

// Top-left causal holds for every crop: tiles above the diagonal go.
// CHECK-LABEL: func @top_left
// CHECK: sieve.block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} sequences(%{{.*}} : memref<2x3xi32>)
// CHECK-SAME: key_blocks = array<i32: 0, 1, 0>
func.func @top_left(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %s: memref<2x3xi32>) {
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}
