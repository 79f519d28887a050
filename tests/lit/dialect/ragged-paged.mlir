// RUN: sieve-opt %s -split-input-file | sieve-opt -split-input-file | FileCheck %s

// A ragged batch (docs/ragged-paged.md): the types give the padded problem
// (2 sequences of at most 4 queries and 6 keys), the cumulative offsets
// (cu_seqlens_q; cu_seqlens_k) an i32 [2, B + 1] operand read at run time;
// it survives a round trip.
// CHECK-LABEL: func @ragged
// CHECK: sieve.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} sequences(%{{.*}} : memref<2x3xi32>) {block_k = 2 : i64, block_q = 2 : i64, causal, causal_align = #sieve.causal_align<bottom_right>
func.func @ragged(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %s: memref<2x3xi32>) {
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}

// -----

// Paged KV, ragged too: the page table [B, ceil(Sk / page_size)] and the
// page size, a multiple of block_k.
// CHECK-LABEL: func @paged
// CHECK: sieve.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} sequences(%{{.*}} : memref<2x3xi32>) pages(%{{.*}} : memref<2x2xi32>) {block_k = 2 : i64, block_q = 2 : i64, mask = #sieve.block_mask<1x2x3, "3f">, page_size = 4 : i64
func.func @paged(%q: memref<2x1x4x4xf32>, %k: memref<2x1x6x4xf32>, %v: memref<2x1x6x4xf32>, %o: memref<2x1x4x4xf32>, %s: memref<2x3xi32>, %p: memref<2x2xi32>) {
  sieve.attention %q, %k, %v, %o sequences(%s : memref<2x3xi32>) pages(%p : memref<2x2xi32>) {mask = #sieve.block_mask<1x2x3, "3f">, scale = 0.5 : f32, block_q = 2, block_k = 2, page_size = 4} : memref<2x1x4x4xf32>, memref<2x1x6x4xf32>, memref<2x1x6x4xf32>, memref<2x1x4x4xf32>
  return
}
