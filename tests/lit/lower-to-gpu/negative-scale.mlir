// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu=variant=mma -verify-diagnostics
// RUN: sieve-opt %s -split-input-file -sieve-lower-to-gpu=chip=sm_90a | FileCheck %s

// The tensor-core bodies keep the raw scores' running maximum, which is the
// softmax's only for a positive scale: a negative one is refused by name,
// and `auto` falls back to the simt body, which scales q first.
// CHECK-LABEL: func @negative_scale
// CHECK-NOT: gpu.launch_func
// CHECK: gpu.func @sieve_attention
// CHECK-SAME: sieve.config = "simt block_q=64 block_k=64 chunk=64 threads=64"
// CHECK-SAME: sieve.launch = #sieve.launch<attention, grid = [1, 1, 1], block = [64, 1, 1], shared = 0,
// CHECK-SAME: sieve.variant = "simt"
func.func @negative_scale(%q: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %v: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  // expected-error @+1 {{variant=mma needs a positive scale (the online softmax subtracts the raw scores' maximum)}}
  sieve.block_sparse_attention %q, %k, %v, %o {block_k = 64 : i64, block_q = 64 : i64, key_blocks = array<i32: 0>, row_heads = array<i32: 0>, row_query_blocks = array<i32: 0>, row_spans = array<i32: 0, 1>, scale = -1.250000e-01 : f32} : memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x1x64x64xbf16, strided<[?, ?, ?, 1], offset: ?>>
  return
}
