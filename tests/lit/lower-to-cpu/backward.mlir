// RUN: sieve-opt %s -split-input-file -sieve-lower-to-cpu | FileCheck %s

// The backward becomes, per batch entry, delta = rowsum(dout * out) into a
// heap scratch, then dQ over the row tables and dK, dV over the column
// tables, all nine tables as constant globals; P is recomputed as
// exp2(score - lse * log2 e) and the gradients are stored once each.
// CHECK-DAG: memref.global "private" constant @__sieve_cpu_bwd0_col_spans : memref<4xi32> = dense<[0, 2, 2, 3]>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu_bwd0_row_spans : memref<4xi32> = dense<[0, 2, 2, 3]>
// CHECK-LABEL: func @backward
// CHECK-NOT: sieve.
// CHECK: %[[DELTA:.*]] = memref.alloc() : memref<1x1x4xf32>
// CHECK: memref.store %{{.*}}, %[[DELTA]]
// CHECK: memref.get_global @__sieve_cpu_bwd0_row_heads
// CHECK: %[[LSE:.*]] = memref.load %arg5
// CHECK: %[[LSE2:.*]] = arith.mulf %[[LSE]], %cst{{.*}} : f32
// CHECK: %[[ARG:.*]] = arith.subf %{{.*}}, %[[LSE2]] : f32
// CHECK: math.exp2 %[[ARG]]
// CHECK: memref.store %{{.*}}, %arg6
// CHECK: memref.get_global @__sieve_cpu_bwd0_col_kv_heads
// CHECK: memref.store %{{.*}}, %arg7
// CHECK: memref.store %{{.*}}, %arg8
// CHECK: memref.dealloc %[[DELTA]]
func.func @backward(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>, %do: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>, %dq: memref<1x1x4x8xf32>, %dk: memref<1x1x4x8xf32>, %dv: memref<1x1x4x8xf32>) {
  sieve.block_sparse_attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {block_k = 2 : i64, block_q = 2 : i64, causal, col_key_blocks = array<i32: 0, 1>, col_kv_heads = array<i32: 0, 0>, col_query_blocks = array<i32: 0, 1, 1>, col_query_heads = array<i32: 0, 0, 0>, col_spans = array<i32: 0, 2, 2, 3>, key_blocks = array<i32: 0, 1, 0>, row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 3>, scale = 5.000000e-01 : f32} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4xf32> -> memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// The forward's lse: (final max + log2 sum) / log2 e per query row.
// CHECK-LABEL: func @forward_lse
// CHECK: %[[LOG:.*]] = math.log2 %{{.*}} : f32
// CHECK: %[[LSE2:.*]] = arith.addf %{{.*}}, %[[LOG]] : f32
// CHECK: %[[LSE:.*]] = arith.mulf %[[LSE2]], %{{.*}} : f32
// CHECK: memref.store %[[LSE]], %arg4[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x1x4xf32>
func.func @forward_lse(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o lse(%lse : memref<1x1x4xf32>) {block_k = 2 : i64, block_q = 2 : i64, key_blocks = array<i32: 0, 1>, row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 2, 0, 2>, scale = 5.000000e-01 : f32} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}
