// RUN: sieve-opt %s -split-input-file | sieve-opt -split-input-file | FileCheck %s

// A generation op (docs/generation.md): one decode query against a cache of
// 6 positions, its mask over the positions (3 x 3 tiles of 2), the step
// (q_pos, seq_k_live) an operand read at run time; it survives a round trip.
// CHECK-LABEL: func @decode
// CHECK: sieve.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} positions(%{{.*}} : memref<2xi32>) {block_k = 2 : i64, block_q = 2 : i64, causal, mask = #sieve.block_mask<1x3x3, "ff01">
func.func @decode(%q: memref<1x1x1x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x1x4xf32>, %p: memref<2xi32>) {
  sieve.attention %q, %k, %v, %o positions(%p : memref<2xi32>) {mask = #sieve.block_mask<1x3x3, "ff01">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal} : memref<1x1x1x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x1x4xf32>
  return
}
