// RUN: sieve-opt %s -split-input-file | sieve-opt -split-input-file | FileCheck %s

// The mask prints as its packed bytes and survives a round trip.
// CHECK-LABEL: func @attention
// CHECK: sieve.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {block_k = 2 : i64, block_q = 2 : i64, causal, mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 5.000000e-01 : f32}
func.func @attention(%q: memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %k: memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %v: memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, %o: memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x1x5x4xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<1x2x6x4xf16, strided<[?, ?, ?, ?], offset: ?>>
  return
}

// -----

// Plain row-major memrefs work too; no causal flag prints none.
// CHECK-LABEL: func @plain
// CHECK: sieve.attention {{.*}}mask = #sieve.block_mask<1x1x1, "01">
// CHECK-NOT: causal
func.func @plain(%q: memref<2x1x8x16xbf16>, %k: memref<2x1x8x16xbf16>, %v: memref<2x1x8x16xbf16>, %o: memref<2x1x8x16xbf16>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x1, "01">, scale = 0.25 : f32, block_q = 8, block_k = 8} : memref<2x1x8x16xbf16>, memref<2x1x8x16xbf16>, memref<2x1x8x16xbf16>, memref<2x1x8x16xbf16>
  return
}

// -----

// The specialized form round-trips with its tables.
// CHECK-LABEL: func @tables
// CHECK: sieve.block_sparse_attention {{.*}}key_blocks = array<i32: 1, 0>, row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 2>
func.func @tables(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 2>, key_blocks = array<i32: 1, 0>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}

// -----

// Split-KV tables: two parts of (head 0, query block 0) in slots 0 and 1.
// CHECK-LABEL: func @split_rows
// CHECK: sieve.block_sparse_attention
// CHECK-SAME: row_slots = array<i32: 0, 1, -1>
// CHECK-SAME: split_groups = array<i32: 0, 0, 0, 2>
func.func @split_rows(%q: memref<1x1x4x4xf32>, %k: memref<1x1x4x4xf32>, %v: memref<1x1x4x4xf32>, %o: memref<1x1x4x4xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o {row_heads = array<i32: 0, 0, 0>, row_query_blocks = array<i32: 0, 0, 1>, row_spans = array<i32: 0, 1, 1, 2, 2, 2>, key_blocks = array<i32: 0, 1>, row_slots = array<i32: 0, 1, -1>, split_groups = array<i32: 0, 0, 0, 2>, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>, memref<1x1x4x4xf32>
  return
}
