// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask -sieve-pack-gqa | FileCheck %s

// Decode, g = 2 query heads per key head, Sq = 1: key head 0's row packs
// heads 0 (keeps key blocks 0, 1) and 1 (keeps 1, 2): the union 0, 1, 2,
// with segment words 1 (head 0 only), 3 (both), 2 (head 1 only). Key head
// 1 packs head 2 (key block 3) and head 3 (nothing): word 1.
// CHECK-LABEL: func @decode_group_of_two
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: block_q = 64 : i64
// CHECK-SAME: key_block_segments = array<i32: 1, 3, 2, 1>
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2, 3>
// CHECK-SAME: mask_block_q = 1 : i64
// CHECK-SAME: row_heads = array<i32: 0, 1>
// CHECK-SAME: row_query_blocks = array<i32: 0, 0>
// CHECK-SAME: row_spans = array<i32: 0, 3, 3, 4>
func.func @decode_group_of_two(%q: memref<1x4x1x8xf32>, %k: memref<1x2x8x8xf32>, %v: memref<1x2x8x8xf32>, %o: memref<1x4x1x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<4x1x4, "6308">, scale = 0.5 : f32, block_q = 1, block_k = 2} : memref<1x4x1x8xf32>, memref<1x2x8x8xf32>, memref<1x2x8x8xf32>, memref<1x4x1x8xf32>
  return
}

// -----

// Without grouped heads (Hq = Hkv) there is nothing to pack.
// CHECK-LABEL: func @no_group
// CHECK: sieve.block_sparse_attention
// CHECK-NOT: key_block_segments
func.func @no_group(%q: memref<1x2x1x8xf32>, %k: memref<1x2x8x8xf32>, %v: memref<1x2x8x8xf32>, %o: memref<1x2x1x8xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x1x4, "ff">, scale = 0.5 : f32, block_q = 1, block_k = 2} : memref<1x2x1x8xf32>, memref<1x2x8x8xf32>, memref<1x2x8x8xf32>, memref<1x2x1x8xf32>
  return
}

// -----

// Generation, one query per head (decode), g = 2, 3 position blocks of 2:
// a packed row per (key head, position block), its segment p the query
// head p, the union of both heads' blocks at that position block (causal
// dropped the blocks past it). Head 0 keeps {0}, {1}, {0, 2}; head 1 {0},
// {0, 1}, {1, 2}. Rows longest first: position blocks 2, 1, 0.
// CHECK-LABEL: func @generation_decode
// CHECK: sieve.block_sparse_attention %{{.*}} positions(%{{.*}} : memref<2xi32>)
// CHECK-SAME: block_q = 64 : i64
// CHECK-SAME: key_block_segments = array<i32: 1, 2, 3, 2, 3, 3>
// CHECK-SAME: key_blocks = array<i32: 0, 1, 2, 0, 1, 0>
// CHECK-SAME: mask_block_q = 2 : i64
// CHECK-SAME: row_heads = array<i32: 0, 0, 0>
// CHECK-SAME: row_query_blocks = array<i32: 2, 1, 0>
// CHECK-SAME: row_spans = array<i32: 0, 3, 3, 5, 5, 6>
func.func @generation_decode(%q: memref<1x2x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x2x1x4xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<2x3x3, "513303">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x2x1x4xf32>
  return
}

// -----

// A generation chunk (Sq = 2) may straddle two position blocks, whose rows
// differ: it stays unpacked.
// CHECK-LABEL: func @generation_chunk
// CHECK: sieve.block_sparse_attention
// CHECK-NOT: key_block_segments
func.func @generation_chunk(%q: memref<1x2x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x2x2x4xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<2x3x3, "513303">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x2x2x4xf32>
  return
}
