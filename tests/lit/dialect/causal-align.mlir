// RUN: sieve-opt %s -split-input-file | sieve-opt -split-input-file | FileCheck %s

// A bottom-right causal mask (a KV cache: 2 queries, the last 2 of 6
// positions) prints its alignment and survives a round trip.
// CHECK-LABEL: func @bottom_right
// CHECK: sieve.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {block_k = 2 : i64, block_q = 2 : i64, causal, causal_align = #sieve.causal_align<bottom_right>, mask = #sieve.block_mask<1x1x3, "07">, scale = 5.000000e-01 : f32}
func.func @bottom_right(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x3, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// top_left spelled out is kept as written (the compiler leaves it out).
// CHECK-LABEL: func @top_left
// CHECK: causal, causal_align = #sieve.causal_align<top_left>
func.func @top_left(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>) {
  sieve.attention %q, %k, %v, %o {mask = #sieve.block_mask<1x1x3, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<top_left>} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>
  return
}

// -----

// The backward op carries the alignment too.
// CHECK-LABEL: func @backward
// CHECK: sieve.attention_backward {{.*}}causal, causal_align = #sieve.causal_align<bottom_right>
func.func @backward(%q: memref<1x1x2x4xf32>, %k: memref<1x1x6x4xf32>, %v: memref<1x1x6x4xf32>, %o: memref<1x1x2x4xf32>, %do: memref<1x1x2x4xf32>, %lse: memref<1x1x2xf32>, %dq: memref<1x1x2x4xf32>, %dk: memref<1x1x6x4xf32>, %dv: memref<1x1x6x4xf32>) {
  sieve.attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {mask = #sieve.block_mask<1x1x3, "07">, scale = 0.5 : f32, block_q = 2, block_k = 2, causal, causal_align = #sieve.causal_align<bottom_right>} : memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2x4xf32>, memref<1x1x2xf32> -> memref<1x1x2x4xf32>, memref<1x1x6x4xf32>, memref<1x1x6x4xf32>
  return
}
