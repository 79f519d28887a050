// RUN: sieve-opt %s -split-input-file | sieve-opt -split-input-file | FileCheck %s
// RUN: sieve-opt %s -split-input-file -sieve-specialize-mask | FileCheck %s --check-prefix=SPEC

// The optional calibration operand prints as stats(%s : type) and survives
// a round trip; sieve-specialize-mask carries it to the block-sparse form.
// CHECK-LABEL: func @with_stats
// CHECK: sieve.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} stats(%{{.*}} : memref<2x3x3xf32>) {block_k = 2 : i64, block_q = 2 : i64
// SPEC-LABEL: func @with_stats
// SPEC: sieve.block_sparse_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} stats(%{{.*}} : memref<2x3x3xf32>) {block_k = 2 : i64, block_q = 2 : i64
func.func @with_stats(%q: memref<1x2x6x4xf32>, %k: memref<1x1x5x4xf32>, %v: memref<1x1x5x4xf32>, %o: memref<1x2x6x4xf32>, %s: memref<2x3x3xf32>) {
  sieve.attention %q, %k, %v, %o stats(%s : memref<2x3x3xf32>) {mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x6x4xf32>, memref<1x1x5x4xf32>, memref<1x1x5x4xf32>, memref<1x2x6x4xf32>
  return
}

// -----

// Without it nothing changes.
// CHECK-LABEL: func @without_stats
// CHECK-NOT: stats(
func.func @without_stats(%q: memref<1x2x6x4xf32>, %k: memref<1x1x5x4xf32>, %v: memref<1x1x5x4xf32>, %o: memref<1x2x6x4xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<2x3x3, "ab0f02">, scale = 0.5 : f32, block_q = 2, block_k = 2} : memref<1x2x6x4xf32>, memref<1x1x5x4xf32>, memref<1x1x5x4xf32>, memref<1x2x6x4xf32>
  return
}
