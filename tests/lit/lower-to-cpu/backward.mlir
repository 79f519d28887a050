// RUN: sieve-opt %s -split-input-file -sieve-lower-to-cpu | FileCheck %s

// The backward becomes three host phases over a heap workspace, each a
// host function over a range of work units (a launch contract each) that
// calls its unit's code in the kernel's library: pack (q, dout, k and v as
// f32 tiles both ways, lse * log2 e and delta = rowsum(dout * out) per
// query row), key_value (dK and dV by the column tables, one unit per
// column) and query (dQ by the row tables, one unit per row). All nine
// tables are constant globals; P is recomputed as exp2(score - lse * log2 e)
// and masked entries get P = dS = 0 by a select.
// CHECK-DAG: memref.global "private" constant @__sieve_cpu_bwd0_col_spans : memref<4xi32> = dense<[0, 2, 2, 3]>
// CHECK-DAG: memref.global "private" constant @__sieve_cpu_bwd0_row_spans : memref<4xi32> = dense<[0, 2, 2, 3]>
// CHECK-LABEL: func @backward
// CHECK-NOT: sieve.block_sparse_attention_backward
// CHECK: %[[HEAP:.*]] = memref.alloc() {alignment = 64 : i64} : memref<528xf32>
// CHECK: call @__sieve_cpu_bwd0_pack(
// CHECK: call @__sieve_cpu_bwd0_key_value(
// CHECK: call @__sieve_cpu_bwd0_query(
// CHECK: memref.dealloc %[[HEAP]]
// The pack unit: lse in log2 units and delta, an FMA per element of the row.
// CHECK-LABEL: func.func @__sieve_cpu_bwd_pack_unit_
// CHECK: %[[LSE:.*]] = memref.load %arg5[%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x1x?xf32>
// CHECK: arith.mulf %[[LSE]], %cst{{.*}} : f32
// CHECK: math.fma %{{.*}}, %{{.*}}, %{{.*}} : f32
// The key-value unit: S^T and dP^T in register blocks (queries along the
// lanes), P^T and dS^T kept by a select, dV and dK accumulated along the
// head dimension and stored once each.
// CHECK-LABEL: func.func @__sieve_cpu_bwd_key_value_unit_
// CHECK: scf.for {{.*}} -> (vector<2xf32>,
// CHECK: %[[DS:.*]] = arith.select %{{.*}}, %{{.*}}, %{{.*}} : vector<2xi1>, vector<2xf32>
// CHECK: scf.for {{.*}} -> (vector<8xf32>,
// CHECK: vector.store %{{.*}}, %arg7[
// CHECK: vector.store %{{.*}}, %arg8[
// The query unit: dQ of a row's queries (keys along the lanes), stored
// once.
// CHECK-LABEL: func.func @__sieve_cpu_bwd_query_unit_
// CHECK: scf.for {{.*}} -> (vector<2xf32>,
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : vector<2xi1>, vector<2xf32>
// CHECK: scf.for {{.*}} -> (vector<8xf32>,
// CHECK: vector.store %{{.*}}, %arg6[
// The phases: pack per block, then a unit per column and per row.
// CHECK-LABEL: func.func @__sieve_cpu_bwd0_pack(
// CHECK-SAME: #sieve.launch<pack, grid = [4, 1, 1]
// CHECK-LABEL: func.func @__sieve_cpu_bwd0_key_value(
// CHECK-SAME: #sieve.launch<backward_key_value, grid = [2, 1, 1]
// CHECK: memref.get_global @__sieve_cpu_bwd0_col_kv_heads
// CHECK-LABEL: func.func @__sieve_cpu_bwd0_query(
// CHECK-SAME: #sieve.launch<backward_query, grid = [2, 1, 1]
// CHECK: memref.get_global @__sieve_cpu_bwd0_row_heads
func.func @backward(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>, %do: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>, %dq: memref<1x1x4x8xf32>, %dk: memref<1x1x4x8xf32>, %dv: memref<1x1x4x8xf32>) {
  sieve.block_sparse_attention_backward %q, %k, %v, %o, %do, %lse -> %dq, %dk, %dv {block_k = 2 : i64, block_q = 2 : i64, causal, col_key_blocks = array<i32: 0, 1>, col_kv_heads = array<i32: 0, 0>, col_query_blocks = array<i32: 0, 1, 1>, col_query_heads = array<i32: 0, 0, 0>, col_spans = array<i32: 0, 2, 2, 3>, key_blocks = array<i32: 0, 1, 0>, row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 1, 0>, row_spans = array<i32: 0, 2, 2, 3>, scale = 5.000000e-01 : f32} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4xf32> -> memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}

// -----

// The forward's lse: (final max + log2 sum) / log2 e per query row.
// CHECK-LABEL: func.func @__sieve_cpu_attention_unit_
// CHECK-SAME: %[[LSEOUT:arg4]]: memref<1x1x?xf32>
// CHECK: %[[LOG:.*]] = math.log2 %{{.*}} : f32
// CHECK: %[[LSE2:.*]] = arith.addf %{{.*}}, %[[LOG]] : f32
// CHECK: %[[LSE:.*]] = arith.mulf %[[LSE2]], %{{.*}} : f32
// CHECK: memref.store %[[LSE]], %[[LSEOUT]][%{{.*}}, %{{.*}}, %{{.*}}] : memref<1x1x?xf32>
func.func @forward_lse(%q: memref<1x1x4x8xf32>, %k: memref<1x1x4x8xf32>, %v: memref<1x1x4x8xf32>, %o: memref<1x1x4x8xf32>, %lse: memref<1x1x4xf32>) {
  sieve.block_sparse_attention %q, %k, %v, %o lse(%lse : memref<1x1x4xf32>) {block_k = 2 : i64, block_q = 2 : i64, key_blocks = array<i32: 0, 1>, row_heads = array<i32: 0, 0>, row_query_blocks = array<i32: 0, 1>, row_spans = array<i32: 0, 2, 0, 2>, scale = 5.000000e-01 : f32} : memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>, memref<1x1x4x8xf32>
  return
}
